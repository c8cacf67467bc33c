import { z } from 'zod';
import { parseFlags } from '../../../shared/cli/flags.ts';
import { table, toJson } from '../../../shared/cli/output.ts';
import type { CliContext } from '../../../shared/cli/run-main.ts';
import { keyFingerprint } from '../../../shared/crypto/sign.ts';
import { listDevices } from '../../state/devices.ts';
import { stateDir, statePaths } from '../../state/paths.ts';

const ListFlags = z.object({ state: z.string().optional(), json: z.boolean().default(false) });

/** `onionfleet device list [--json]`. */
export async function deviceList(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(ListFlags, opts);
  const devices = await listDevices(statePaths(stateDir(flags.state)));
  const rows = devices.map((d) => ({ device: d.device, state: 'enrolled', fingerprint: keyFingerprint(d.signingKey), natsUser: d.natsUser }));
  ctx.output.out(flags.json ? toJson(rows) : rows.length === 0 ? 'no devices registered' : table([['device', 'state', 'signing key'], ...rows.map((r) => [r.device, r.state, r.fingerprint])]));
}
