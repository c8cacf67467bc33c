/**
 * Member continuity (fleet.yaml `groups[].continuity`, desired state, sealed backups): whether an
 * instance's identity may be copied off the device that made it, how often its device backs it up,
 * and who besides the controller can open the backups. Pure: schemas and the tier defaults.
 */
import { z } from 'zod';
import { AgeRecipient } from './common.ts';
import { durationTextSchema, parseDurationMs } from './duration.ts';
import type { Tier } from './fleet-spec.ts';

/** fleet.yaml `groups[].continuity` (every key optional; the tier's defaults fill the rest). */
export const GroupContinuity = z.strictObject({
  /**
   * Whether the instance's identity (onion key, CA, TLS key, password, store log) may exist as a
   * sealed backup and move to another device, so members keep the address. false: no backup leaves
   * the device; a move gives a new address.
   */
  identityCopies: z.boolean().optional(),
  /** How often a device seals a changed store log (the identity itself goes at once). 10s to 7d. */
  backupInterval: durationTextSchema('10s', '7d').optional(),
  /** age recipients that can open the group's backups besides the controller (an admin's offline key). */
  offlineRecipients: z.array(AgeRecipient).max(8).default([]),
  /**
   * At boot a device holds the group's instances back (no onion, no server) until the controller
   * confirms them; with no word from it within this much uptime it serves them again from its last
   * applied state. `forever`: only the controller releases them (docs/continuity.md, "A device that
   * comes back"). 1m to 7d.
   */
  holdAtBoot: z.union([z.literal('forever'), durationTextSchema('1m', '7d')]).optional(),
});
export type GroupContinuity = z.infer<typeof GroupContinuity>;

/** What one instance's device must know: the resolved continuity. */
export const InstanceContinuity = z.strictObject({
  identityCopies: z.boolean(),
  backupSeconds: z.int().min(10).max(7 * 86_400),
  /** The controller's recipient first, then the group's offline recipients. */
  recipients: z.array(AgeRecipient).min(1).max(9),
  /**
   * Seconds of uptime after which a device held at boot serves the instance again without the
   * controller's word; null: never (only the controller releases it). Absent (desired states made
   * before the boot hold): the tier's default.
   */
  holdAtBootSeconds: z.int().min(60).max(7 * 86_400).nullable().optional(),
});
export type InstanceContinuity = z.infer<typeof InstanceContinuity>;

/**
 * The tier defaults (docs/tiers.md): copies everywhere but at the extreme tier, where a second copy
 * of a key anywhere is a risk the group did not choose; backups more often as the tier rises.
 */
export const CONTINUITY_DEFAULTS: Readonly<Record<Tier, { identityCopies: boolean; backupSeconds: number; holdAtBootSeconds: number | null }>> = {
  standard: { identityCopies: true, backupSeconds: 3600, holdAtBootSeconds: 1800 },
  elevated: { identityCopies: true, backupSeconds: 1800, holdAtBootSeconds: 1800 },
  high: { identityCopies: true, backupSeconds: 900, holdAtBootSeconds: 7200 },
  extreme: { identityCopies: false, backupSeconds: 900, holdAtBootSeconds: null },
};

/** The continuity of one group's instances. Pure. */
export function resolveContinuity(tier: Tier, group: GroupContinuity | undefined, controllerRecipient: string): InstanceContinuity {
  const d = CONTINUITY_DEFAULTS[tier];
  return {
    identityCopies: group?.identityCopies ?? d.identityCopies,
    backupSeconds: group?.backupInterval === undefined ? d.backupSeconds : Math.round((parseDurationMs(group.backupInterval.trim()) ?? d.backupSeconds * 1000) / 1000),
    recipients: [controllerRecipient, ...(group?.offlineRecipients ?? [])],
    holdAtBootSeconds: holdSeconds(group?.holdAtBoot, d.holdAtBootSeconds),
  };
}

/** `forever` → null; a duration → whole seconds; absent → the tier's default. */
function holdSeconds(text: string | undefined, fallback: number | null): number | null {
  if (text === undefined) return fallback;
  if (text.trim() === 'forever') return null;
  const ms = parseDurationMs(text.trim());
  return ms === null ? fallback : Math.round(ms / 1000);
}
