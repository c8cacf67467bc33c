/**
 * `apply --wait`: watches the status bucket until every device reports its new revision converged
 * and healthy, or the deadline passes. Event-driven (a KV watch), with progress on every change —
 * and, while nothing changes, a line every {@link STILL_WAITING_MS} naming what it waits on.
 */
import type { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import type { ControllerSession } from '../bus/session.ts';
import { isConverged, notConvergedReason, openStatus, type DeviceView } from './view.ts';

export interface WaitResult {
  readonly pending: readonly { device: string; reason: string }[];
}

/** How long a wait may stay silent before it says what it is waiting on. */
export const STILL_WAITING_MS = 15_000;

/** Progress of a wait: each change of the count, and (when nothing changed for a while) what it still waits on. */
export interface WaitProgress {
  (done: number, total: number): void;
  still?: (elapsedS: number, pending: WaitResult['pending']) => void;
}

/**
 * Progress lines for a wait: `line(done, total)` on every change, and while nothing changes for
 * {@link STILL_WAITING_MS}, `still waiting (45 s): pi-2: no status; pi-3: …`.
 */
export function progressLines(emit: (line: string) => void, line: (done: number, total: number) => string): WaitProgress {
  const progress: WaitProgress = (done, total) => { emit(line(done, total)); };
  progress.still = (elapsedS, pending) => { emit(`still waiting (${elapsedS} s): ${pending.map((p) => `${p.device}: ${p.reason}`).join('; ')}`); };
  return progress;
}

export async function waitForConvergence(
  session: ControllerSession,
  devices: readonly EnrollmentRecord[],
  revisions: ReadonlyMap<string, number>,
  timeoutMs: number,
  onProgress?: WaitProgress,
): Promise<WaitResult> {
  const records = new Map(devices.filter((d) => revisions.has(d.device)).map((d) => [d.device, d]));
  const views = new Map<string, DeviceView>();
  const done = () => [...records.keys()].filter((id) => {
    const view = views.get(id);
    return view !== undefined && isConverged(view, revisions.get(id) ?? 0);
  }).length;
  let reported = -1;
  const started = Date.now();
  let changedAt = started;
  const report = () => {
    const n = done();
    if (n !== reported) {
      onProgress?.(n, records.size);
      changedAt = Date.now();
    }
    reported = n;
    return n === records.size;
  };
  const pendingNow = (): WaitResult['pending'] => [...records.keys()]
    .map((id) => ({ id, view: views.get(id) }))
    .filter(({ id, view }) => view === undefined || !isConverged(view, revisions.get(id) ?? 0))
    .map(({ id, view }) => ({ device: id, reason: view === undefined ? 'no status' : notConvergedReason(view, revisions.get(id) ?? 0) }));
  const still = onProgress?.still;
  const silence = still === undefined ? undefined : setInterval(() => {
    if (Date.now() - changedAt < STILL_WAITING_MS) return;
    changedAt = Date.now();
    still(Math.round((Date.now() - started) / 1000), pendingNow());
  }, 1_000);
  if (!report()) {
    // The watch delivers each key's last value first, then updates: no gap between reading and watching.
    const watcher = await session.status.watch();
    const timer = setTimeout(() => {
      watcher.stop();
    }, timeoutMs);
    try {
      for await (const entry of watcher) {
        const record = records.get(entry.key);
        if (record === undefined || entry.operation !== 'PUT') continue;
        views.set(entry.key, await openStatus(session, record, entry.value));
        if (report()) break;
      }
    } finally {
      clearTimeout(timer);
      watcher.stop();
    }
  }
  clearInterval(silence);
  return { pending: pendingNow() };
}
