/**
 * How a CLI shows a rollout: JSON lines on stdout with `--json`, else progress lines on stderr —
 * and, while a wave's gate shows nothing new for {@link STILL_WAITING_MS}, a line naming what it
 * still waits on.
 */
import type { Output } from '#shared/cli/output.ts';
import { STILL_WAITING_MS } from '../status/wait.ts';
import { eventLine, type RolloutEvent } from './events.ts';

export interface RolloutPrinter {
  readonly emit: (event: RolloutEvent) => void;
  /** Stops the still-waiting timer. */
  readonly close: () => void;
}

export function rolloutPrinter(output: Output, json: boolean): RolloutPrinter {
  if (json) return { emit: (e) => { output.out(JSON.stringify(e)); }, close: () => undefined };
  const started = Date.now();
  let lastAt = started;
  let waiting: Extract<RolloutEvent, { event: 'wave-waiting' }> | null = null;
  const timer = setInterval(() => {
    if (waiting === null || Date.now() - lastAt < STILL_WAITING_MS) return;
    lastAt = Date.now();
    const prefix = waiting.of > 1 ? `wave ${waiting.wave}/${waiting.of}: ` : '';
    output.err(`${prefix}still waiting (${Math.round((Date.now() - started) / 1000)} s): ${waiting.waiting.map((w) => `${w.device}: ${w.reason}`).join('; ')}`);
  }, 1_000);
  return {
    emit: (e) => {
      lastAt = Date.now();
      waiting = e.event === 'wave-waiting' && e.waiting.length > 0 ? e : null;
      output.err(eventLine(e));
    },
    close: () => { clearInterval(timer); },
  };
}
