/**
 * Member continuity (fleet.yaml `groups[].continuity`, desired state, sealed backups): whether an
 * instance's identity may be copied off the device that made it, how often its device backs it up,
 * and who besides the controller can open the backups. Pure: schemas and the tier defaults.
 */
import { z } from 'zod';
import { AgeRecipient } from './common.ts';
import { durationTextSchema, parseDurationMs } from './duration.ts';
import type { Tier } from './fleet-spec.ts';
import { STORE_LOG_CHUNK_BYTES, STORE_LOG_MAX_CHUNKS } from './store-log-chain.ts';

/**
 * The most XFTP file bytes a group may back up: what one chain base carries (16 chunks of 256 KiB
 * compressed: 4 MiB) less 1 MiB for the store log and the frames. The files are encrypted by their
 * senders, so gzip does not shrink them; beyond the base the whole store log would be left out.
 */
export const XFTP_FILES_MAX_BYTES_LIMIT = STORE_LOG_CHUNK_BYTES * STORE_LOG_MAX_CHUNKS - 1024 * 1024;
const SIZE_UNIT = { kb: 1024, mb: 1024 * 1024 } as const;

/** `512kb` → 524 288, `1mb` → 1 048 576, `0` → 0, a whole number → itself; null when it is none of these. */
export function parseSizeBytes(value: string | number): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  const m = /^(\d{1,9})(kb|mb)?$/.exec(value.trim());
  if (m === null) return null;
  return Number(m[1]) * (m[2] === undefined ? 1 : SIZE_UNIT[m[2] as keyof typeof SIZE_UNIT]);
}

const XftpFilesMaxBytes = z.union([z.number(), z.string()]).superRefine((value, ctx) => {
  const bytes = parseSizeBytes(value);
  if (bytes === null) ctx.addIssue({ code: 'custom', message: 'expected a size such as 0, 512kb or 1mb (lower case), or a number of bytes' });
  else if (bytes > XFTP_FILES_MAX_BYTES_LIMIT) ctx.addIssue({ code: 'custom', message: `must be at most 3mb (${XFTP_FILES_MAX_BYTES_LIMIT} bytes: what one store-log chain base carries, less room for the store log)` });
});

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
  /**
   * XFTP instances: their stored files go with the store log in the backups while they add up to at
   * most this (`0`, `512kb`, `1mb`, … up to `3mb`); beyond it the store log goes alone. The files
   * expire after `expire_files_hours` (48 h) anyway.
   */
  xftpFilesMaxBytes: XftpFilesMaxBytes.optional(),
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
  /** XFTP: the most file bytes that go with the store log (absent, in desired states made before it: 0, none). */
  xftpFilesMaxBytes: z.int().min(0).max(XFTP_FILES_MAX_BYTES_LIMIT).optional(),
});
export type InstanceContinuity = z.infer<typeof InstanceContinuity>;

/**
 * The tier defaults (docs/tiers.md): copies everywhere but at the extreme tier, where a second copy
 * of a key anywhere is a risk the group did not choose; backups more often as the tier rises.
 */
export const CONTINUITY_DEFAULTS: Readonly<Record<Tier, { identityCopies: boolean; backupSeconds: number; holdAtBootSeconds: number | null; xftpFilesMaxBytes: number }>> = {
  standard: { identityCopies: true, backupSeconds: 3600, holdAtBootSeconds: 1800, xftpFilesMaxBytes: 1024 * 1024 },
  elevated: { identityCopies: true, backupSeconds: 1800, holdAtBootSeconds: 1800, xftpFilesMaxBytes: 1024 * 1024 },
  high: { identityCopies: true, backupSeconds: 900, holdAtBootSeconds: 7200, xftpFilesMaxBytes: 256 * 1024 },
  extreme: { identityCopies: false, backupSeconds: 900, holdAtBootSeconds: null, xftpFilesMaxBytes: 0 },
};

/** The continuity of one group's instances. Pure. */
export function resolveContinuity(tier: Tier, group: GroupContinuity | undefined, controllerRecipient: string): InstanceContinuity {
  const d = CONTINUITY_DEFAULTS[tier];
  return {
    identityCopies: group?.identityCopies ?? d.identityCopies,
    backupSeconds: group?.backupInterval === undefined ? d.backupSeconds : Math.round((parseDurationMs(group.backupInterval.trim()) ?? d.backupSeconds * 1000) / 1000),
    recipients: [controllerRecipient, ...(group?.offlineRecipients ?? [])],
    holdAtBootSeconds: holdSeconds(group?.holdAtBoot, d.holdAtBootSeconds),
    xftpFilesMaxBytes: group?.xftpFilesMaxBytes === undefined ? d.xftpFilesMaxBytes : (parseSizeBytes(group.xftpFilesMaxBytes) ?? d.xftpFilesMaxBytes),
  };
}

/** `forever` → null; a duration → whole seconds; absent → the tier's default. */
function holdSeconds(text: string | undefined, fallback: number | null): number | null {
  if (text === undefined) return fallback;
  if (text.trim() === 'forever') return null;
  const ms = parseDurationMs(text.trim());
  return ms === null ? fallback : Math.round(ms / 1000);
}
