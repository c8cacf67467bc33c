import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { sshFingerprint } from '#shared/crypto/sshsig.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { Id } from '#shared/schema/common.ts';
import { readTrust, trustFiles, writeTrust } from '../../bundle/trust-file.ts';

const Flags = z.object({ json: z.boolean().default(false) });

/**
 * `onionfleet bundle untrust FLEET [--json]`: forgets the fleet's controller key (like
 * `ssh-keygen -R host`); its next bundle is trusted on first use again. Exit 2 when the fleet is
 * not trusted (nothing changes).
 */
export async function bundleUntrust(fleet: unknown, opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const parsed = Id.safeParse(fleet);
  if (!parsed.success) throw new InvalidInputError([{ source: 'FLEET', message: 'not a fleet name (lowercase letters, digits, -)' }]);
  const name = parsed.data;
  const files = trustFiles();
  const { signers } = await readTrust(files);
  const removed = signers.filter((s) => s.fleet === name);
  if (removed.length === 0) {
    const known = [...new Set(signers.map((s) => s.fleet))];
    throw new InvalidInputError([{ source: files.allowedSigners, message: `fleet "${name}" is not trusted (trusted: ${known.join(', ') || 'none'})` }]);
  }
  await writeTrust(files, signers.filter((s) => s.fleet !== name));
  const fingerprints = removed.map((s) => sshFingerprint(s.key));
  ctx.output.out(flags.json ? toJson({ file: files.allowedSigners, fleet: name, removed: fingerprints }) : `no longer trusted: fleet ${name} (${fingerprints.join(', ')}); its next bundle is trusted on first use`);
}
