import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { pidAlive } from '#shared/os/live-process.ts';
import { rolloutLines } from '../../rollout/describe.ts';
import { readRollout } from '../../rollout/state.ts';
import { stateDir, statePaths } from '../../state/paths.ts';

const Flags = z.object({ state: z.string().optional(), json: z.boolean().default(false) });

/** `onionfleet rollout status [--json]`: the last rollout, from the state directory (no bus needed). */
export async function rolloutStatus(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const state = await readRollout(statePaths(stateDir(flags.state)).dir);
  if (state === null) {
    ctx.output.out(flags.json ? toJson({ rollout: null }) : 'no rollout yet');
    return;
  }
  const alive = state.driver !== null && pidAlive(state.driver);
  if (flags.json) {
    // The spec and the sealed previous states are for resume and abort, not for reading.
    ctx.output.out(toJson({ rollout: { ...state, spec: undefined, previous: undefined, driverAlive: alive } }));
  } else {
    ctx.output.out(rolloutLines(state, alive).join('\n'));
  }
}
