/**
 * Places one group's XFTP instances after its SMP. Sticky instances stay where they were while the
 * device is eligible; others go to the device with the fewest of the group's XFTP, then one the
 * group already uses (a dedicated group should not claim a device for nothing), then room, then hash.
 */
import { rejectDevice, noFilterCounts, type FilterCounts } from './filters.ts';
import type { GroupWork } from './group-work.ts';
import { instanceId, pairHash, type GroupInfo } from './model.ts';
import type { Packing, StickyMode } from './place-smp.ts';

export interface XftpInput {
  readonly work: GroupWork;
  readonly group: GroupInfo;
  readonly previous: ReadonlyMap<string, number>;
  readonly sticky: StickyMode;
  readonly packing: Packing;
}

/** On failure: the devices filtered per reason, and how many XFTP instances could be placed. */
export type XftpOutcome = { ok: true; devices: number[] } | { ok: false; filtered: FilterCounts; room: number };

/** Adds the XFTP instances to `work` (which holds the group's SMP). On failure `work` is unchanged. */
export function placeXftp(input: XftpInput): XftpOutcome {
  const { work, group } = input;
  const filtered = noFilterCounts();
  const candidates: number[] = [];
  for (let d = 0; d < work.model.devices.length; d++) {
    const reason = rejectDevice(work, group, d, 'xftp');
    if (reason === null) candidates.push(d);
    else filtered[reason]++;
  }
  const at: number[] = [];
  const undo = () => {
    for (const d of at) work.remove(d, 'xftp');
  };
  const previousOf = (i: number) => input.previous.get(instanceId(group.id, 'xftp', i + 1)) ?? -1;
  for (let i = 0; i < group.xftp; i++) {
    const prev = previousOf(i);
    let d = input.sticky === 'hold' && prev !== -1 && rejectDevice(work, group, prev, 'xftp') === null ? prev : -1;
    if (d === -1) d = bestXftpDevice(input, candidates, input.sticky === 'prefer' ? prev : -1);
    if (d === -1) {
      undo();
      return { ok: false, filtered, room: i };
    }
    work.add(d, 'xftp');
    at.push(d);
  }
  return { ok: true, devices: at };
}

function bestXftpDevice(input: XftpInput, candidates: readonly number[], previous: number): number {
  const { work, group } = input;
  let best = -1;
  let [b0, b1, b2, b3] = [0, 0, 0, 0];
  for (const d of candidates) {
    if (rejectDevice(work, group, d, 'xftp') !== null) continue;
    // Lexicographic, smaller is better.
    const s0 = input.packing === 'compact' ? 0 : (work.xftpOn[d] ?? 0);
    const s1 = work.usedOn(d) > 0 ? 0 : (work.load.groupsOn[d] ?? 0) > 0 ? 1 : 2;
    const s2 = d === previous ? 0 : 1;
    const s3 = -(work.freeSlots(d) * 4_294_967_296 + pairHash(group.hash, work.model.devices[d]?.hash ?? 0));
    if (best === -1 || s0 < b0 || (s0 === b0 && (s1 < b1 || (s1 === b1 && (s2 < b2 || (s2 === b2 && s3 < b3)))))) {
      best = d;
      [b0, b1, b2, b3] = [s0, s1, s2, s3];
    }
  }
  return best;
}
