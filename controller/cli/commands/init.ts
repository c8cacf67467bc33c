import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { parseFlags } from '../../../shared/cli/flags.ts';
import { toJson } from '../../../shared/cli/output.ts';
import type { CliContext } from '../../../shared/cli/run-main.ts';
import { keyFingerprint } from '../../../shared/crypto/sign.ts';
import { initState } from '../../state/keys.ts';
import { stateDir, statePaths } from '../../state/paths.ts';

const Flags = z.object({ state: z.string().optional(), passphraseFile: z.string().optional(), json: z.boolean().default(false) });

/** `onionfleet init [--state DIR] [--passphrase-file F]`: the controller's keys (0600) and identity. */
export async function initCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const passphrase = await readPassphrase(flags.passphraseFile);
  const identity = await initState(paths, passphrase);
  ctx.output.out(
    flags.json
      ? toJson({ state: paths.dir, ...identity, fingerprint: keyFingerprint(identity.signingKey) })
      : `initialized ${paths.dir}\n  signing key ${keyFingerprint(identity.signingKey)}${passphrase === null ? '' : '\n  private keys encrypted with the passphrase'}`,
  );
}

/** The passphrase from a file (first line) or $ONIONFLEET_PASSPHRASE; null when neither is given. */
export async function readPassphrase(file: string | undefined): Promise<string | null> {
  if (file !== undefined) return (await readFile(file, 'utf8')).split('\n')[0] ?? '';
  return process.env.ONIONFLEET_PASSPHRASE ?? null;
}
