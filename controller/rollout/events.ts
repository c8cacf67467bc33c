/**
 * What a rollout reports as it goes: one event per step, printed as JSON lines with `--json` and as
 * progress lines on a terminal (wave k/N, devices done, what it waits on). Pure.
 */
import type { RolloutFailure } from './state.ts';

export type RolloutEvent =
  | { event: 'planned'; rollout: string; waves: { devices: readonly string[]; canary: boolean; soakSeconds: number }[]; warnings: readonly string[] }
  | { event: 'hand-over'; wave: number; of: number; instances: readonly string[]; withoutFinal: readonly string[] }
  | { event: 'wave-published'; wave: number; of: number; devices: readonly string[]; revisions: Record<string, number> }
  | { event: 'wave-waiting'; wave: number; of: number; done: number; total: number; waiting: { device: string; reason: string }[] }
  | { event: 'wave-soaking'; wave: number; of: number; soakSeconds: number }
  | { event: 'wave-promoted'; wave: number; of: number }
  | { event: 'handed-off'; wave: number; of: number }
  | { event: 'paused'; wave: number; of: number }
  | { event: 'halted'; failure: RolloutFailure }
  | { event: 'completed'; waves: number; devices: number }
  | { event: 'aborted'; reverted: Record<string, number>; untouched: readonly string[] };

/** Its progress line (single-wave rollouts keep apply's classic lines: `converged d/t devices`). */
export function eventLine(e: RolloutEvent): string {
  const at = (wave: number, of: number) => (of > 1 ? `wave ${wave}/${of}: ` : '');
  switch (e.event) {
    case 'planned':
      return [`rollout ${e.rollout}: ${e.waves.length} wave${e.waves.length === 1 ? '' : 's'} — ${e.waves.map((w, k) => `${k + 1}${w.canary ? ' (canary)' : ''}: ${w.devices.join(', ')}`).join('; ')}`, ...e.warnings.map((w) => `warning: ${w}`)].join('\n');
    case 'hand-over':
      return `${at(e.wave, e.of)}hand-over: ${e.instances.length} instance${e.instances.length === 1 ? '' : 's'} start at the same address${e.withoutFinal.length > 0 ? ` (no final backup for ${e.withoutFinal.length}: the newest backup serves)` : ''}`;
    case 'wave-published':
      return `${at(e.wave, e.of)}published ${e.devices.map((d) => `${d}@${e.revisions[d] ?? '?'}`).join(', ')}`;
    case 'wave-waiting':
      return `${at(e.wave, e.of)}converged ${e.done}/${e.total} devices${e.waiting.length > 0 && e.of > 1 ? ` — waiting on ${e.waiting.map((w) => `${w.device}: ${w.reason}`).join('; ')}` : ''}`;
    case 'wave-soaking':
      return `${at(e.wave, e.of)}healthy; soaking ${e.soakSeconds} s`;
    case 'wave-promoted':
      return `${at(e.wave, e.of)}promoted`;
    case 'handed-off':
      return `wave ${e.wave}/${e.of} published; \`onionfleet rollout resume\` (or apply --wait) takes it through its health gate and the next waves`;
    case 'paused':
      return `paused before wave ${e.wave}/${e.of}; \`onionfleet rollout resume\` continues`;
    case 'halted':
      return `rollout halted at wave ${e.failure.wave}: ${e.failure.device}${e.failure.instance === null ? '' : ` (${e.failure.instance})`}: ${e.failure.reason}`;
    case 'completed':
      return `rollout completed: ${e.devices} device${e.devices === 1 ? '' : 's'} in ${e.waves} wave${e.waves === 1 ? '' : 's'}`;
    case 'aborted':
      return `rollout aborted: ${Object.keys(e.reverted).length === 0 ? 'no device had changed' : `gave back the previous state to ${Object.entries(e.reverted).map(([d, r]) => `${d}@${r}`).join(', ')}`}${e.untouched.length > 0 ? `; never changed: ${e.untouched.join(', ')}` : ''}`;
  }
}
