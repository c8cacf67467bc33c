import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { keyFingerprint } from '#shared/crypto/sign.ts';
import { initState } from '../../state/keys.ts';
import { givenPassphrase } from '../passphrase.ts';
import { stateDir, statePaths } from '../../state/paths.ts';

const Flags = z.object({ state: z.string().optional(), passphraseFile: z.string().optional(), json: z.boolean().default(false) });

/** `onionfleet init [--state DIR] [--passphrase-file F]`: the controller's keys (0600) and identity. */
export async function initCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const passphrase = await givenPassphrase(flags.passphraseFile);
  const identity = await initState(paths, passphrase);
  const protection = passphrase === null ? 'none' : 'passphrase';
  ctx.output.out(
    flags.json
      ? toJson({ state: paths.dir, ...identity, fingerprint: keyFingerprint(identity.signingKey), protection, inTheClear: passphrase === null ? SECRETS_OF_THE_STATE : [] })
      : `initialized ${paths.dir}\n  signing key ${keyFingerprint(identity.signingKey)}${passphrase === null ? '' : '\n  every secret of the state is encrypted: the age identity under the passphrase, the rest sealed to it'}`,
  );
  if (passphrase === null) {
    ctx.output.err([
      'no passphrase: these stay in the clear in the state directory (files 0600), readable by anyone who can read your files or your disk:',
      ...SECRETS_OF_THE_STATE.map((s) => `  - ${s}`),
      'to protect them, init a new state with --passphrase-file (or ONIONFLEET_PASSPHRASE) and enroll the devices there',
    ].join('\n'));
  }
}

/** What a state without a passphrase keeps in the clear (keys/, bundles/, pins.json, and tor's copy of the NATS onion key). */
export const SECRETS_OF_THE_STATE = [
  'the controller\'s signing key, age identity and NATS seed (keys/)',
  'the admin\'s onion client key, which opens every device\'s SSH onion (keys/onion-client.key)',
  'the NATS onion\'s key (keys/nats-onion.key)',
  'the bundle histories: every member address with its password (bundles/)',
  'the probe pins: every instance\'s onion address (pins.json)',
] as const;

