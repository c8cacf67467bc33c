/**
 * Places one group's XFTP instances after its SMP. Sticky instances stay where they were while the
 * device is eligible; others go to the best device by the score below. The SMP's shortlist and a
 * few more devices from the index are tried first, every device only if they are not enough.
 */
import { quickCandidates, scanAll } from './candidates.ts';
import { rejectDevice, type FilterCounts } from './filters.ts';
import type { GroupWork } from './group-work.ts';
import { instanceId, pairHash, previousDevicesOf, type GroupInfo } from './model.ts';
import type { Packing, StickyMode } from './place-smp.ts';
import { lexLess } from './score.ts';

export interface XftpInput {
  readonly work: GroupWork;
  readonly group: GroupInfo;
  readonly previous: ReadonlyMap<string, number>;
  readonly sticky: StickyMode;
  readonly packing: Packing;
}

/** On failure: the devices filtered per reason, and how many XFTP instances could be placed. */
export type XftpOutcome = { ok: true; devices: number[] } | { ok: false; filtered: FilterCounts; room: number };

const NONE: ReadonlySet<number> = new Set();

/** Adds the XFTP instances to `work` (which holds the group's SMP). On failure `work` is unchanged. */
export function placeXftp(input: XftpInput, shortlist: readonly number[]): XftpOutcome {
  const { work, group } = input;
  const previous = previousDevicesOf(input.group, 'xftp', input.previous);
  const quick = quickCandidates(work, group, 'xftp', [...shortlist, ...previous], NONE);
  const first = tryPlace(input, quick);
  if (first.length === group.xftp) return { ok: true, devices: first };
  const { candidates, filtered } = scanAll(work, group, 'xftp', NONE);
  const second = tryPlace(input, candidates);
  if (second.length === group.xftp) return { ok: true, devices: second };
  return { ok: false, filtered, room: second.length };
}


/** The devices of all the group's XFTP on `candidates` (added to `work`), or as many as fit (not added). */
function tryPlace(input: XftpInput, candidates: readonly number[]): number[] {
  const { work, group } = input;
  const at: number[] = [];
  for (let i = 0; i < group.xftp; i++) {
    const prev = input.previous.get(instanceId(group.id, 'xftp', i + 1)) ?? -1;
    let d = input.sticky === 'hold' && prev !== -1 && rejectDevice(work, group, prev, 'xftp') === null ? prev : -1;
    if (d === -1) d = bestXftpDevice(input, candidates, input.sticky === 'prefer' ? prev : -1, group.xftp - i);
    if (d === -1) break;
    work.add(d, 'xftp');
    at.push(d);
  }
  if (at.length < group.xftp) for (const d of at) work.remove(d, 'xftp');
  return at;
}

/**
 * Smaller scores are better, compared in order: (spread, shared groups only) fewest of the
 * group's XFTP on the device; a device the group uses, then one another group uses; the previous
 * device (prefer mode); room — most when spreading, best fit for the `need` remaining XFTP when
 * compact; stable hash.
 */
function bestXftpDevice(input: XftpInput, candidates: readonly number[], previous: number, need: number): number {
  const { work, group } = input;
  const compact = input.packing === 'compact';
  let best = -1;
  const bestScore = [0, 0, 0, 0, 0];
  const score = [0, 0, 0, 0, 0];
  for (const d of candidates) {
    if (rejectDevice(work, group, d, 'xftp') !== null) continue;
    const room = work.freeSlots(d);
    score[0] = compact || group.dedicated ? 0 : (work.xftpOn[d] ?? 0);
    score[1] = work.usedOn(d) > 0 ? 0 : (work.load.groupsOn[d] ?? 0) > 0 ? 1 : 2;
    score[2] = d === previous ? 0 : 1;
    score[3] = compact ? (room >= need ? room : 1_000_000 - room) : -room;
    score[4] = -pairHash(group.hash, work.model.devices[d]?.hash ?? 0);
    if (best === -1 || lexLess(score, bestScore)) {
      best = d;
      for (let i = 0; i < score.length; i++) bestScore[i] = score[i] ?? 0;
    }
  }
  return best;
}
