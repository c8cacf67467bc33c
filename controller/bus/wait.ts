/**
 * `apply --wait`: watches the status bucket until every device reports its new revision converged
 * and healthy, or the deadline passes. Event-driven (a KV watch), with progress on every change.
 */
import type { EnrollmentRecord } from '../../shared/schema/enrollment.ts';
import type { ControllerSession } from './session.ts';
import { isConverged, notConvergedReason, openStatus, type DeviceView } from './status-view.ts';

export interface WaitResult {
  readonly pending: readonly { device: string; reason: string }[];
}

export async function waitForConvergence(
  session: ControllerSession,
  devices: readonly EnrollmentRecord[],
  revisions: ReadonlyMap<string, number>,
  timeoutMs: number,
  onProgress?: (done: number, total: number) => void,
): Promise<WaitResult> {
  const records = new Map(devices.filter((d) => revisions.has(d.device)).map((d) => [d.device, d]));
  const views = new Map<string, DeviceView>();
  const done = () => [...records.keys()].filter((id) => {
    const view = views.get(id);
    return view !== undefined && isConverged(view, revisions.get(id) ?? 0);
  }).length;
  let reported = -1;
  const report = () => {
    const n = done();
    if (n !== reported) onProgress?.(n, records.size);
    reported = n;
    return n === records.size;
  };
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
  const pending = [...records.keys()]
    .map((id) => ({ id, view: views.get(id) }))
    .filter(({ id, view }) => view === undefined || !isConverged(view, revisions.get(id) ?? 0))
    .map(({ id, view }) => ({ device: id, reason: view === undefined ? 'no status' : notConvergedReason(view, revisions.get(id) ?? 0) }));
  return { pending };
}
