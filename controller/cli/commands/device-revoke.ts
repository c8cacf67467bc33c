import { z } from 'zod';
import { seconds } from '#shared/cli/flag-types.ts';
import { parseFlags } from '#shared/cli/flags.ts';
import { plural, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { EXIT, InvalidInputError } from '#shared/errors.ts';
import { Id } from '#shared/schema/common.ts';
import { publishEffective, waitFor } from '../../apply/rollout.ts';
import { progressLines } from '../../status/wait.ts';
import { openSession } from '../../bus/session.ts';
import { syncAccess } from '../../enroll/access.ts';
import { loadFleetSpec } from '../../spec/load.ts';
import { retireDevice } from '../../state/devices.ts';
import { setDeviceState } from '../../state/device-states.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { statePassphrase } from '../passphrase.ts';

const Flags = z.object({
  id: Id,
  file: z.string().min(1),
  state: z.string().optional(),
  passphraseFile: z.string().optional(),
  wait: z.boolean().default(false),
  timeout: seconds().default(300),
  json: z.boolean().default(false),
});

/**
 * `onionfleet device revoke ID -f FILE [--wait]`: first cuts the device off — its NATS user and its
 * key to the NATS onion are removed and both servers reloaded, so a stolen Pi cannot reach the bus even
 * for a moment longer — then re-plans without it, publishes, and removes its desired state from the bus.
 * Its instances get new addresses elsewhere; export the bundles again (`bundle export`).
 */
export async function deviceRevoke(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const spec = await loadFleetSpec(flags.file);
  if (!spec.devices.some((d) => d.id === flags.id)) {
    throw new InvalidInputError([{ source: flags.file, path: 'devices', message: `no device "${flags.id}"` }]);
  }
  const passphrase = await statePassphrase(paths, flags.passphraseFile);
  const progress = (line: string) => { if (!flags.json) ctx.output.err(line); };

  await setDeviceState(paths, flags.id, 'revoked', new Date());
  const wasRegistered = await retireDevice(paths, flags.id);
  const access = await syncAccess(paths);
  progress(`[1/3] ${flags.id} cut off: NATS user ${access.natsReloaded ? 'removed (server reloaded)' : 'removed (takes effect when `serve` starts)'}, onion client key ${access.torReloaded ? 'removed (tor reloaded)' : 'removed'}`);

  const session = await openSession(paths, passphrase, { create: true });
  try {
    const result = await publishEffective(paths, session, spec);
    await session.desired.delete(flags.id).catch(() => undefined);
    progress(`[2/3] re-planned without ${flags.id}: ${plural(result.plan.diff.moved.length, 'instance')} moved; published ${plural(result.changed.length, 'desired state')}`);
    const summary = { revoked: flags.id, wasRegistered, natsReloaded: access.natsReloaded, torReloaded: access.torReloaded, moved: result.plan.diff.moved, changed: result.changed };
    if (!flags.wait) {
      ctx.output.out(flags.json ? toJson(summary) : `revoked ${flags.id}; export the bundles again: its instances have new addresses`);
      return;
    }
    const waited = await waitFor(paths, session, result.revisions, flags.timeout * 1000, progressLines(progress, (done, total) => `[3/3] converged ${done}/${total} devices`));
    if (flags.json) ctx.output.out(toJson({ ...summary, converged: waited.pending.length === 0, pending: waited.pending }));
    else if (waited.pending.length === 0) ctx.output.out(`revoked ${flags.id}; the fleet converged without it — export the bundles again: its instances have new addresses`);
    else ctx.output.out([`revoked ${flags.id}, but timed out after ${flags.timeout}s; not converged:`, ...waited.pending.map((p) => `  ${p.device}: ${p.reason}`)].join('\n'));
    if (waited.pending.length > 0) ctx.setExitCode(EXIT.failed);
  } finally {
    await session.close();
  }
}
