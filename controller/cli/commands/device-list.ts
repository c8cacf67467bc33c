import { z } from 'zod';
import { parseFlags } from '../../../shared/cli/flags.ts';
import { table, toJson } from '../../../shared/cli/output.ts';
import type { CliContext } from '../../../shared/cli/run-main.ts';
import { ageRecipientFingerprint } from '../../../shared/crypto/age-fingerprint.ts';
import { keyFingerprint } from '../../../shared/crypto/sign.ts';
import type { EnrollmentRecord } from '../../../shared/schema/enrollment.ts';
import { listDevices } from '../../state/devices.ts';
import { listPending } from '../../state/pending.ts';
import { stateDir, statePaths } from '../../state/paths.ts';

const ListFlags = z.object({ state: z.string().optional(), json: z.boolean().default(false) });

/**
 * `onionfleet device list [--json]`: enrolled devices and those waiting for approval (joined with a
 * token), by id, with their signing key and age recipient fingerprints to compare with what each
 * device printed.
 */
export async function deviceList(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(ListFlags, opts);
  const paths = statePaths(stateDir(flags.state));
  const keys = (r: EnrollmentRecord) => ({ fingerprint: keyFingerprint(r.signingKey), ageFingerprint: ageRecipientFingerprint(r.ageRecipient), natsUser: r.natsUser });
  const rows = [
    ...(await listDevices(paths)).map((d) => ({ device: d.device, state: 'enrolled', operator: null, requestedAt: null, ...keys(d) })),
    ...(await listPending(paths)).map((p) => ({ device: p.record.device, state: 'pending', operator: p.operator, requestedAt: p.requestedAt, ...keys(p.record) })),
  ].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
  if (flags.json) {
    ctx.output.out(toJson(rows));
    return;
  }
  ctx.output.out(rows.length === 0
    ? 'no devices registered'
    : table([['device', 'state', 'operator', 'signing key', 'age recipient'], ...rows.map((r) => [r.device, r.state, r.operator ?? '-', r.fingerprint, r.ageFingerprint])]));
  if (rows.some((r) => r.state === 'pending')) ctx.output.err('approve a pending device once its fingerprint matches what it printed: onionfleet device approve ID');
}
