import { z } from 'zod';
import { parseFlags } from '../../../shared/cli/flags.ts';
import { toJson } from '../../../shared/cli/output.ts';
import type { CliContext } from '../../../shared/cli/run-main.ts';
import { keyFingerprint } from '../../../shared/crypto/sign.ts';
import { InvalidInputError } from '../../../shared/errors.ts';
import { loadJson } from '../../../shared/fs/load-json.ts';
import { Id } from '../../../shared/schema/common.ts';
import { EnrollmentRecord } from '../../../shared/schema/enrollment.ts';
import { registerDevice } from '../../enroll/register.ts';
import { loadIdentity } from '../../state/keys.ts';
import { stateDir, statePaths } from '../../state/paths.ts';

const AddFlags = z.object({ id: Id, record: z.string().min(1), state: z.string().optional(), json: z.boolean().default(false) });

/** `onionfleet device add --id ID --record FILE`: registers a device's public keys and its NATS user. */
export async function deviceAdd(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(AddFlags, opts);
  const paths = statePaths(stateDir(flags.state));
  await loadIdentity(paths);
  const record = await loadJson(flags.record, EnrollmentRecord, 'an enrollment record (onionfleet-agent init)');
  if (record.device !== flags.id) throw new InvalidInputError([{ source: flags.record, path: 'device', message: `is "${record.device}", not --id "${flags.id}"` }]);
  const { natsReloaded: reloaded } = await registerDevice(paths, record, flags.record);
  ctx.output.out(
    flags.json
      ? toJson({ added: record.device, fingerprint: keyFingerprint(record.signingKey), natsReloaded: reloaded })
      : `registered ${record.device} (signing key ${keyFingerprint(record.signingKey)})${reloaded ? '; NATS reloaded' : '; NATS picks it up when `onionfleet serve` starts'}`,
  );
}

