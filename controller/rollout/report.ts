/** The last lines of a command that drove a rollout, and its exit code. */
import type { Output } from '#shared/cli/output.ts';
import { toJson } from '#shared/cli/output.ts';
import { EXIT, type ExitCode } from '#shared/errors.ts';
import type { Driven } from './drive.ts';

/** Prints how the drive ended (stdout) and returns the exit code: 0 completed, handed off or paused; 1 halted or timed out. */
export function reportDrive(output: Output, json: boolean, driven: Driven, timeoutS: number, extra: Record<string, unknown> = {}): ExitCode {
  const { outcome, state } = driven;
  const failed = outcome === 'halted' || outcome === 'timeout';
  if (json) {
    output.out(toJson({ ...extra, rollout: state.id, outcome, status: state.status, wave: Math.min(state.current + 1, state.waves.length), waves: state.waves.length, failure: state.failure, pending: driven.pending ?? [], converged: outcome === 'completed' }));
  } else if (outcome === 'completed') {
    output.out(`converged: ${state.waves.reduce((n, w) => n + w.devices.length, 0)} devices on their new revisions in ${state.waves.length} wave${state.waves.length === 1 ? '' : 's'}, every instance healthy`);
  } else if (outcome === 'timeout') {
    const wave = state.waves[state.current];
    const pending = (driven.pending ?? []).map((p) => `  ${p.device}: ${p.reason}`);
    output.out([`timed out after ${timeoutS}s; not converged:`, ...pending, ...(state.waves.length > 1 && wave !== undefined ? [`rollout paused at wave ${state.current + 1}/${state.waves.length}: \`onionfleet rollout resume\` continues, \`rollout abort\` reverts`] : [])].join('\n'));
  } else if (outcome === 'halted' && state.failure !== null) {
    const f = state.failure;
    output.out(`rollout halted at wave ${f.wave}/${state.waves.length}: ${f.device}${f.instance === null ? '' : ` (instance ${f.instance})`}: ${f.reason}\n\`onionfleet rollout abort\` gives the changed devices their previous state back; fix fleet.yaml and apply again to go on`);
  } else if (outcome === 'paused') {
    output.out(`rollout paused at wave ${state.current + 1}/${state.waves.length}`);
  } else if (outcome === 'aborted') {
    output.out('rollout aborted');
  } else {
    output.out('applied');
  }
  return failed ? EXIT.failed : EXIT.ok;
}
