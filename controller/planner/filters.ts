/**
 * Feasibility: why a device cannot take one more instance of a group. The first failing check is
 * the reason recorded, so the order below is the order users read in explanations: the device's
 * own state, then other groups' claims, then capacity, then the group's own rules.
 */
import type { GroupWork, Kind } from './group-work.ts';
import { claimedByOther, type GroupInfo } from './model.ts';
import { MEMORY_MB } from './tier-rules.ts';

export const FILTER_REASONS = [
  'draining',
  'revoked',
  'dedicated-to-other',
  'shared-with-other-groups',
  'full',
  'memory',
  'holds-group-smp',
] as const;
export type FilterReason = (typeof FILTER_REASONS)[number];
export type FilterCounts = Record<FilterReason, number>;

export function noFilterCounts(): FilterCounts {
  return { draining: 0, revoked: 0, 'dedicated-to-other': 0, 'shared-with-other-groups': 0, full: 0, memory: 0, 'holds-group-smp': 0 };
}

/** Why device `d` cannot take one more `kind` instance of `g`, or null when it can. */
export function rejectDevice(work: GroupWork, g: GroupInfo, d: number, kind: Kind): FilterReason | null {
  const dev = work.model.devices[d];
  if (dev === undefined) return 'revoked';
  if (dev.state !== 'active') return dev.state;
  const owner = work.load.owner[d] ?? -1;
  if (owner !== -1 && owner !== g.index) return 'dedicated-to-other';
  if (g.dedicated && (work.load.groupsOn[d] ?? 0) > 0) return 'shared-with-other-groups';
  const claims = work.load.claims;
  if (claims !== null && claimedByOther(claims, d, g.index)) {
    // Sticky: the device keeps its previous groups. A dedicated group may not join them, and no
    // group may join a device a dedicated group had.
    if (g.dedicated) return 'shared-with-other-groups';
    const first = work.model.groups[claims.first[d] ?? -1];
    if (first?.dedicated === true && claims.several[d] === 0) return 'dedicated-to-other';
  }
  if (work.freeSlots(d) < 1) return 'full';
  if (work.freeMemory(d) < (kind === 'smp' ? MEMORY_MB.smp : MEMORY_MB.xftp)) return 'memory';
  if (kind === 'xftp' && g.rules.xftpApart && (work.smpOn[d] ?? 0) > 0) return 'holds-group-smp';
  return null;
}
