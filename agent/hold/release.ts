/**
 * Ending the boot hold (see plan.ts and markers.ts), where the applier (root) does it:
 * - the controller's word: an `apply` of a document the controller signed for this device, not older
 *   than applied, releases everything held; the reconcile that follows serves what the document keeps
 *   on this device and archives what it moved away;
 * - the fallback: no such word within an instance's `holdAtBoot` of uptime (the applier reads
 *   /proc/uptime itself; the agent only asks); the applier then re-applies its own last applied state.
 */
import { join } from 'node:path';
import { loadJson } from '#shared/fs/load-json.ts';
import type { Logger } from '#shared/log.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { DESIRED_COPY } from '../reconcile/loop.ts';
import { heldNow, releaseHeld, uptimeSeconds } from './markers.ts';
import { dueForRelease } from './plan.ts';

/** After the controller's document opened: releases everything held. */
export async function releaseByController(root: string, revision: number, log: Logger): Promise<string[]> {
  const released = await releaseHeld(root, 'all', 'controller');
  if (released.length > 0) log.info({ revision, instances: released.length }, `released ${released.length} instance(s) held at boot: the controller's revision ${revision} confirms what this device serves`);
  return released;
}

export type UptimeRelease =
  | { readonly kind: 'released'; readonly released: string[]; readonly opened: { revision: number; body: DesiredState } }
  | { readonly kind: 'rejected'; readonly reason: string; readonly message: string };

/** The fallback: releases what is due at this uptime; the caller re-applies `opened` (the last applied state). */
export async function releaseByUptime(root: string, log: Logger): Promise<UptimeRelease> {
  const held = await heldNow(root);
  const uptime = await uptimeSeconds();
  const due = dueForRelease(held, uptime);
  if (due.length === 0) {
    return { kind: 'rejected', reason: 'not-due', message: held.length === 0 ? 'nothing is held' : `${held.length} instance(s) held, none due at ${Math.floor(uptime)} s of uptime` };
  }
  const desired = await loadJson(join(root, DESIRED_COPY), DesiredState, 'the last applied desired state').catch(() => null);
  if (desired === null) return { kind: 'rejected', reason: 'not-due', message: 'no last applied desired state to serve the held instances from' };
  const released = await releaseHeld(root, due, 'uptime');
  log.warn({ revision: desired.revision, instances: released.length }, `released ${released.length} instance(s) held at boot: no word from the controller within their holdAtBoot of uptime; serving revision ${desired.revision} again`);
  return { kind: 'released', released, opened: { revision: desired.revision, body: desired } };
}
