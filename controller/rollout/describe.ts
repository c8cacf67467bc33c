/** The rollout as people read it (`rollout status`, `status`): one line, then one per wave. Pure. */
import type { RolloutState } from './state.ts';

/** One line: `rollout <id>: running, wave 2/3 (…)`. */
export function rolloutHeadline(state: RolloutState, driverAlive: boolean): string {
  const of = state.waves.length;
  const wave = Math.min(state.current + 1, of);
  const where = state.status === 'completed' ? `${of}/${of} waves done` : `wave ${wave}/${of}`;
  const driver = state.status === 'running' ? (driverAlive ? ` (driven by pid ${state.driver ?? '?'})` : ' (nobody drives it: `onionfleet rollout resume`)') : '';
  const failure = state.failure === null ? '' : ` — ${state.failure.device}${state.failure.instance === null ? '' : ` (instance ${state.failure.instance})`}: ${state.failure.reason}`;
  return `rollout ${state.id}: ${state.status}, ${where}${driver}${failure}`;
}

export function rolloutLines(state: RolloutState, driverAlive: boolean): string[] {
  return [
    rolloutHeadline(state, driverAlive),
    ...state.waves.map((w, k) => `  wave ${k + 1}${w.canary ? ' (canary)' : ''}: ${w.state.padEnd(9)} ${w.devices.map((d) => (w.revisions[d] === undefined ? d : `${d}@${w.revisions[d]}`)).join(', ')}${w.soakSeconds > 0 ? `; soak ${w.soakSeconds} s` : ''}`),
    ...Object.entries(state.groups).map(([g, s]) => `  group ${g} (${s.tier}): ${s.serving} serving, at least ${s.minimumHealthy} up during any wave (≤ ${s.maxUnavailable} device${s.maxUnavailable === 1 ? '' : 's'} at once)`),
    ...state.warnings.map((w) => `  warning: ${w}`),
    ...(Object.keys(state.reverted).length > 0 ? [`  given back their previous state: ${Object.entries(state.reverted).map(([d, r]) => `${d}@${r}`).join(', ')}`] : []),
  ];
}
