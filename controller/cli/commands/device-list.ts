import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { table, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { ageRecipientFingerprint } from '#shared/crypto/age-fingerprint.ts';
import { keyFingerprint } from '#shared/crypto/sign.ts';
import type { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import { readDeviceStates } from '../../state/device-states.ts';
import { listDevices, listRevokedDevices } from '../../state/devices.ts';
import { listPending } from '../../state/pending.ts';
import { stateDir, statePaths } from '../../state/paths.ts';

const ListFlags = z.object({ state: z.string().optional(), json: z.boolean().default(false) });

/**
 * `onionfleet device list [--json]`: every device the controller knows, by id — enrolled (or
 * draining), waiting for approval (joined with a token), and revoked (kept for the record, with the
 * date) — with their signing key and age recipient fingerprints to compare with what each device printed.
 */
export async function deviceList(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(ListFlags, opts);
  const paths = statePaths(stateDir(flags.state));
  const keys = (r: EnrollmentRecord) => ({ fingerprint: keyFingerprint(r.signingKey), ageFingerprint: ageRecipientFingerprint(r.ageRecipient), natsUser: r.natsUser });
  const states = await readDeviceStates(paths);
  const rows = [
    ...(await listDevices(paths)).map((d) => ({ device: d.device, state: states[d.device]?.state === 'draining' || states[d.device]?.state === 'lost' ? states[d.device]?.state ?? 'enrolled' : 'enrolled', since: states[d.device]?.since ?? null, operator: null, requestedAt: null, ...keys(d) })),
    ...(await listPending(paths)).map((p) => ({ device: p.record.device, state: 'pending', since: null, operator: p.operator, requestedAt: p.requestedAt, ...keys(p.record) })),
    ...(await listRevokedDevices(paths)).map((d) => ({ device: d.device, state: 'revoked', since: states[d.device]?.since ?? null, operator: null, requestedAt: null, ...keys(d) })),
  ].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
  if (flags.json) {
    ctx.output.out(toJson(rows));
    return;
  }
  ctx.output.out(rows.length === 0
    ? 'no devices registered'
    : table([['device', 'state', 'since', 'operator', 'signing key', 'age recipient'], ...rows.map((r) => [r.device, r.state, r.since?.slice(0, 10) ?? '-', r.operator ?? '-', r.fingerprint, r.ageFingerprint])]));
  if (rows.some((r) => r.state === 'pending')) ctx.output.err('approve a pending device once its fingerprint matches what it printed: onionfleet device approve ID');
}
