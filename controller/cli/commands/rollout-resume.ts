import { z } from 'zod';
import { seconds } from '#shared/cli/flag-types.ts';
import { parseFlags } from '#shared/cli/flags.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { OperationFailedError } from '#shared/errors.ts';
import { openSession } from '../../bus/session.ts';
import { assertNoLiveDriver, driveRollout } from '../../rollout/drive.ts';
import { rolloutPrinter } from '../../rollout/progress.ts';
import { reportDrive } from '../../rollout/report.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { statePassphrase } from '../passphrase.ts';

const Flags = z.object({ state: z.string().optional(), passphraseFile: z.string().optional(), timeout: seconds().default(3600), json: z.boolean().default(false) });

/**
 * `onionfleet rollout resume`: drives the recorded rollout on from its current wave — after a pause,
 * a halt (the failed wave's gate is looked at again), a timeout, or a controller that was killed.
 */
export async function rolloutResume(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const state = await assertNoLiveDriver(paths);
  if (state === null || state.status === 'completed' || state.status === 'aborted') {
    throw new OperationFailedError('no-rollout', state === null ? 'there is no rollout to resume' : `rollout ${state.id} is ${state.status}`);
  }
  const session = await openSession(paths, await statePassphrase(paths, flags.passphraseFile));
  const printer = rolloutPrinter(ctx.output, flags.json);
  try {
    const resumed = { ...state, waves: state.waves.map((w) => (w.state === 'failed' ? { ...w, state: 'published' as const } : w)) };
    const driven = await driveRollout({ paths, session, emit: printer.emit }, resumed, { watch: true, deadline: Date.now() + flags.timeout * 1000 });
    ctx.setExitCode(reportDrive(ctx.output, flags.json, driven, flags.timeout));
  } finally {
    printer.close();
    await session.close();
  }
}
