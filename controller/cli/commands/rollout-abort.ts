import { z } from 'zod';
import { seconds } from '#shared/cli/flag-types.ts';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { EXIT, OperationFailedError } from '#shared/errors.ts';
import { openSession } from '../../bus/session.ts';
import { abortRollout } from '../../rollout/abort.ts';
import { eventLine } from '../../rollout/events.ts';
import { readRollout } from '../../rollout/state.ts';
import { waitForConvergence } from '../../status/wait.ts';
import { listDevices } from '../../state/devices.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { statePassphrase } from '../passphrase.ts';

const Flags = z.object({ state: z.string().optional(), passphraseFile: z.string().optional(), wait: z.boolean().default(false), timeout: seconds().default(300), json: z.boolean().default(false) });

/**
 * `onionfleet rollout abort [--wait]`: stops the rollout (a driver still running publishes no further
 * wave) and gives each device it changed its previous desired state back, as a new revision.
 */
export async function rolloutAbort(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const state = await readRollout(paths.dir);
  if (state === null || state.status === 'completed') throw new OperationFailedError('no-rollout', state === null ? 'there is no rollout to abort' : `rollout ${state.id} is completed: apply the previous fleet.yaml to go back`);
  const session = await openSession(paths, await statePassphrase(paths, flags.passphraseFile));
  try {
    const result = await abortRollout(paths, session, state);
    const event = { event: 'aborted' as const, reverted: result.reverted, untouched: result.untouched };
    let pending: readonly { device: string; reason: string }[] = [];
    if (flags.wait && Object.keys(result.reverted).length > 0) {
      pending = (await waitForConvergence(session, await listDevices(paths), new Map(Object.entries(result.reverted)), flags.timeout * 1000)).pending;
    }
    if (flags.json) ctx.output.out(toJson({ rollout: result.state.id, status: 'aborted', reverted: result.reverted, untouched: result.untouched, noPrevious: result.noPrevious, ...(flags.wait ? { converged: pending.length === 0, pending } : {}) }));
    else {
      ctx.output.out(eventLine(event));
      if (result.noPrevious.length > 0) ctx.output.out(`no previous state to give back (left on the new one): ${result.noPrevious.join(', ')}`);
      if (pending.length > 0) ctx.output.out([`timed out after ${flags.timeout}s; not back:`, ...pending.map((p) => `  ${p.device}: ${p.reason}`)].join('\n'));
      else if (flags.wait) ctx.output.out('every changed device runs its previous state again, healthy');
    }
    if (pending.length > 0) ctx.setExitCode(EXIT.failed);
  } finally {
    await session.close();
  }
}
