/**
 * The hand-over of instances that move with their identity (docs/continuity.md, "Hand-over"): one
 * onion is never served by two devices at once. Phase 1 (a publish with `handOver: true`) told every
 * device *except* the receivers; this waits until each device an instance leaves has stopped it (its
 * agent sends a final backup just before archiving it), waits — briefly, with a deadline — for those
 * final backups to land, then publishes again so the receivers start the instances from the newest
 * backups. A device declared lost is not waited on: its receivers start at once (`device lost`).
 */
import { pollUntil } from '#shared/async/poll.ts';
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import type { ControllerSession } from '../bus/session.ts';
import { newestBackups } from '../backup/movable.ts';
import type { StatePaths } from '../state/paths.ts';
import { progressLines } from '../status/wait.ts';
import type { HandOverMove, PublishResult } from './publish.ts';
import { publishEffective, waitFor } from './rollout.ts';

/** The longest the hand-over waits for final backups once the old devices stopped (then the newest backups serve). */
export const FINAL_BACKUP_WAIT_MS = 60_000;

export interface HandOverOutcome {
  /** The second publish (the receivers'), or null when the old devices did not stop in time. */
  readonly second: PublishResult | null;
  /** Devices that did not stop their instances in time, and why. */
  readonly pending: readonly { device: string; reason: string }[];
  /** Instances that started without a final backup (the newest scheduled one served). */
  readonly withoutFinal: readonly string[];
}

export async function completeHandOver(paths: StatePaths, session: ControllerSession, spec: FleetSpec, first: PublishResult,
  deadline: number, progress: (line: string) => void): Promise<HandOverOutcome> {
  const senders = new Map<string, number>();
  for (const h of first.handOver) {
    if (h.from !== null && h.from !== h.to && !first.heldForHandOver.includes(h.from)) senders.set(h.from, first.revisions.get(h.from) ?? 0);
  }
  const stopped = await waitFor(paths, session, senders, Math.max(1, deadline - Date.now()),
    progressLines(progress, (done, total) => `hand-over: ${done}/${total} devices stopped the instances that move`));
  if (stopped.pending.length > 0) return { second: null, pending: stopped.pending, withoutFinal: [] };
  const moving = first.handOver.filter((h) => h.from !== null && senders.has(h.from));
  const missing = await awaitFinalBackups(paths, session, moving, deadline);
  const withoutFinal = missing;
  if (withoutFinal.length > 0) progress(`hand-over: no final backup from the old device for ${withoutFinal.length} instance(s); the newest backup serves`);
  const second = await publishEffective(paths, session, spec);
  progress(`hand-over: ${first.heldForHandOver.length} device(s) start the instances that moved, at the same addresses`);
  return { second, pending: [], withoutFinal };
}

/**
 * Waits (polling, until `deadline` and at most FINAL_BACKUP_WAIT_MS) for each moving instance's final
 * backup: from the device it leaves, at the epoch that device holds (a move raises the epoch, so an
 * older final backup of the same device has another one). No clock compared. Returns the instances
 * whose final backup did not come (the newest backup then serves).
 */
export async function awaitFinalBackups(paths: StatePaths, session: ControllerSession, moving: readonly Pick<HandOverMove, 'instance' | 'from' | 'fromEpoch'>[], deadline: number): Promise<string[]> {
  if (moving.length === 0) return [];
  let missing: string[] = moving.map((h) => h.instance);
  const done = await pollUntil(async () => {
    const newest = await newestBackups(paths, session);
    missing = moving.filter((h) => {
      const b = newest.get(h.instance);
      return b === undefined || b.reason !== 'final' || b.device !== h.from || b.identity.epoch !== h.fromEpoch;
    }).map((h) => h.instance);
    return missing.length === 0 ? true : null;
  }, { timeoutMs: Math.min(FINAL_BACKUP_WAIT_MS, Math.max(1, deadline - Date.now())), intervalMs: 500 });
  return done === null ? missing : [];
}
