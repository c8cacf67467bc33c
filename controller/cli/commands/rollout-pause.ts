import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { OperationFailedError } from '#shared/errors.ts';
import { readRollout, writeRollout } from '../../rollout/state.ts';
import { withStateLock } from '../../state/lock.ts';
import { stateDir, statePaths } from '../../state/paths.ts';

const Flags = z.object({ state: z.string().optional(), json: z.boolean().default(false) });

/** `onionfleet rollout pause`: no further wave starts; the driver stops after the current wave's gate. */
export async function rolloutPause(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const state = await withStateLock(paths, 'rollout', async () => {
    const current = await readRollout(paths.dir);
    if (current?.status !== 'running') throw new OperationFailedError('no-rollout', current === null ? 'there is no rollout' : `rollout ${current.id} is ${current.status}, not running`);
    return writeRollout(paths.dir, { ...current, status: 'paused' });
  });
  ctx.output.out(flags.json ? toJson({ rollout: state.id, status: state.status, wave: state.current + 1, waves: state.waves.length }) : `rollout ${state.id} paused at wave ${state.current + 1}/${state.waves.length} (the wave under way finishes its gate); \`onionfleet rollout resume\` continues`);
}
