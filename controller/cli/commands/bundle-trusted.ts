import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { table, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { sshFingerprint } from '#shared/crypto/sshsig.ts';
import { readTrust, trustFiles } from '../../bundle/trust-file.ts';
import { describeOldPin, pinNames } from '../../bundle/trusted-signers.ts';

const Flags = z.object({ json: z.boolean().default(false) });

/**
 * `onionfleet bundle trusted [--json]`: the fleets whose bundles this machine accepts, each with
 * its controller's fingerprint, and the old single pin if one is there (and whether a fleet holds
 * its key yet: until then it still refuses other keys of fleets not yet trusted).
 */
export async function bundleTrusted(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const files = trustFiles();
  const { signers, oldPin } = await readTrust(files);
  const rows = signers.map((s) => ({ fleet: s.fleet, sshFingerprint: sshFingerprint(s.key), controllerKey: s.key }));
  const claimedBy = oldPin === null ? [] : signers.filter((s) => pinNames(oldPin, s.key)).map((s) => s.fleet);
  const old = oldPin === null ? null : { file: files.oldPin, fingerprint: describeOldPin(oldPin), fleets: claimedBy };
  if (flags.json) {
    ctx.output.out(toJson({ file: files.allowedSigners, fleets: rows, oldPin: old }));
    return;
  }
  const lines = rows.length === 0 ? [`no trusted fleet yet (${files.allowedSigners})`] : [`trusted fleets (${files.allowedSigners}):`, table([['FLEET', 'CONTROLLER KEY'], ...rows.map((r) => [r.fleet, r.sshFingerprint])])];
  if (old !== null) lines.push(`old pin ${old.file}: ${old.fingerprint}${old.fleets.length > 0 ? ` (fleet ${old.fleets.join(', ')})` : ' (no fleet holds it yet: a new fleet signed by another key is refused until one does)'}`);
  ctx.output.out(lines.join('\n'));
}
