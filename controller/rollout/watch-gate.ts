/**
 * Waits on one wave's health gate: watches the status bucket (each key's last value first, then
 * every update), evaluates the pure gate on each change, and promotes the wave once every device has
 * stayed healthy for the soak time. Event-driven: it wakes on a status, at the soak's end, at the
 * deadline, and once a second to see whether the rollout was paused or aborted meanwhile.
 */
import type { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import type { ControllerSession } from '../bus/session.ts';
import { openStatus, type DeviceView } from '../status/view.ts';
import { gateWave, type WaveGate } from './gate.ts';

export type GateOutcome =
  | { readonly outcome: 'healthy'; readonly gate: WaveGate }
  | { readonly outcome: 'failed'; readonly gate: Extract<WaveGate, { state: 'failed' }> }
  | { readonly outcome: 'timeout'; readonly gate: WaveGate }
  | { readonly outcome: 'stopped'; readonly gate: WaveGate };

export interface WatchGateOptions {
  readonly soakMs: number;
  readonly deadline: number;
  /** Called when the gate's picture changes (done count or what it waits on). */
  readonly onChange?: (gate: WaveGate) => void;
  /** Called when every device turned healthy and the soak starts. */
  readonly onSoak?: () => void;
  /** Wait for the agents' probes through their own tor too (GateInput.onion). */
  readonly onion?: boolean;
  /** Checked on every wake: true ends the wait ('stopped'). */
  readonly shouldStop?: () => Promise<boolean>;
}

const CONTROL_TICK_MS = 1_000;

export async function watchGate(session: ControllerSession, records: readonly EnrollmentRecord[], revisions: ReadonlyMap<string, number>, options: WatchGateOptions): Promise<GateOutcome> {
  const byId = new Map(records.filter((r) => revisions.has(r.device)).map((r) => [r.device, r]));
  const views = new Map<string, DeviceView>();
  const evaluate = () => gateWave([...revisions].map(([device, revision]) => {
    const view = views.get(device);
    return { device, revision, status: view?.status ?? null, problem: view === undefined ? (byId.has(device) ? 'no status' : 'not enrolled') : view.problem, onion: options.onion ?? true };
  }));
  const watcher = await session.status.watch();
  // A status that lands while the loop is busy marks it dirty, so it is never waited past.
  const flags = { dirty: false, ended: false };
  const dirtied = () => flags.dirty;
  let wake: () => void = () => {
    flags.dirty = true;
  };
  const feed = (async () => {
    for await (const entry of watcher) {
      const record = byId.get(entry.key);
      if (record === undefined || entry.operation !== 'PUT') continue;
      views.set(entry.key, await openStatus(session, record, entry.value));
      wake();
    }
    flags.ended = true;
    wake();
  })();
  let healthySince: number | null = null;
  let picture = '';
  try {
    for (;;) {
      flags.dirty = false;
      const gate = evaluate();
      const now = Date.now();
      if (gate.state === 'failed') return { outcome: 'failed', gate };
      const shown = JSON.stringify(gate.devices);
      if (shown !== picture) {
        picture = shown;
        options.onChange?.(gate);
      }
      if (gate.state === 'healthy') {
        if (healthySince === null) {
          healthySince = now;
          if (options.soakMs > 0) options.onSoak?.();
        }
        if (now - healthySince >= options.soakMs) return { outcome: 'healthy', gate };
      } else {
        healthySince = null;
      }
      if (now >= options.deadline || flags.ended) return { outcome: 'timeout', gate };
      if ((await options.shouldStop?.()) === true) return { outcome: 'stopped', gate };
      const soakEnd = healthySince === null ? Infinity : healthySince + options.soakMs;
      const next = Math.max(0, Math.min(soakEnd, options.deadline, now + CONTROL_TICK_MS) - now);
      if (dirtied()) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, next);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = () => {
        flags.dirty = true;
      };
    }
  } finally {
    watcher.stop();
    await feed.catch(() => undefined);
  }
}
