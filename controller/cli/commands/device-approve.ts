import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { keyFingerprint } from '#shared/crypto/sign.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { Id } from '#shared/schema/common.ts';
import { KeyFingerprint } from '#shared/schema/join-token.ts';
import { registerDevice } from '../../enroll/register.ts';
import { listDevices } from '../../state/devices.ts';
import { loadIdentity } from '../../state/identity.ts';
import { loadPending, removePending, type PendingDevice } from '../../state/pending.ts';
import { stateDir, statePaths, type StatePaths } from '../../state/paths.ts';

const ApproveFlags = z.object({ fingerprint: KeyFingerprint.optional(), state: z.string().optional(), json: z.boolean().default(false) });
const RejectFlags = z.object({ state: z.string().optional(), json: z.boolean().default(false) });

/**
 * `onionfleet device approve ID [--fingerprint SHA256:…] [--json]`: registers a device that joined
 * with a token (its keys, its NATS user) and forgets its pending record. With `--fingerprint`, only
 * when its signing key is the one the device printed. Exit 2 when no device ID is pending.
 */
export async function deviceApprove(id: unknown, opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(ApproveFlags, opts);
  const paths = statePaths(stateDir(flags.state));
  const pending = await pendingOrFail(paths, id);
  const fingerprint = keyFingerprint(pending.record.signingKey);
  if (flags.fingerprint !== undefined && flags.fingerprint !== fingerprint) {
    throw new InvalidInputError([{ source: '--fingerprint', message: `device ${pending.record.device} has the signing key ${fingerprint}, not ${flags.fingerprint}` }], {
      hint: 'do not approve a device whose fingerprint differs from the one it printed: reject it (`onionfleet device reject`)',
    });
  }
  if ((await listDevices(paths)).some((d) => d.device === pending.record.device)) {
    throw new InvalidInputError([{ source: 'device id', message: `a device "${pending.record.device}" was enrolled meanwhile (with its own keys)` }], { hint: 'reject the pending one: `onionfleet device reject`' });
  }
  const { natsReloaded } = await registerDevice(paths, pending.record, `pending device ${pending.record.device}`);
  await removePending(paths, pending.record.device);
  const { device } = pending.record;
  ctx.output.out(flags.json
    ? toJson({ approved: device, operator: pending.operator, fingerprint, natsReloaded })
    : `approved ${device} (operator ${pending.operator}, signing key ${fingerprint})${natsReloaded ? '; NATS reloaded: it can connect now' : '; NATS picks it up when `onionfleet serve` starts'}`);
}

/** `onionfleet device reject ID [--json]`: forgets a pending device; its keys are never registered. */
export async function deviceReject(id: unknown, opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(RejectFlags, opts);
  const paths = statePaths(stateDir(flags.state));
  const pending = await pendingOrFail(paths, id);
  await removePending(paths, pending.record.device);
  const { device } = pending.record;
  ctx.output.out(flags.json ? toJson({ rejected: device, operator: pending.operator }) : `rejected ${device}: its keys were not registered`);
}

/** The pending device `id`; InvalidInputError (exit 2) for an invalid id or no such pending device. */
async function pendingOrFail(paths: StatePaths, id: unknown): Promise<PendingDevice> {
  await loadIdentity(paths);
  const parsed = Id.safeParse(id);
  if (!parsed.success) throw new InvalidInputError([{ source: 'device id', message: `not an id: ${JSON.stringify(id)}` }]);
  const pending = await loadPending(paths, parsed.data);
  if (pending === null) {
    throw new InvalidInputError([{ source: 'device id', message: `no device "${parsed.data}" is waiting for approval` }], { hint: 'see `onionfleet device list` (state pending)' });
  }
  return pending;
}
