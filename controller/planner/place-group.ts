/**
 * One group, SMP then XFTP. When the tier keeps XFTP apart from the group's SMP and the SMP took
 * every device XFTP could use, the group is tried once more with XFTP devices reserved first
 * (the ones whose operator/location/jurisdiction other candidates repeat, so the SMP spread loses least).
 */
import { rejectDevice, type FilterCounts } from './filters.ts';
import type { GroupWork, Kind } from './group-work.ts';
import { pairHash, type GroupInfo } from './model.ts';
import { placeSmp, type Packing, type StickyMode } from './place-smp.ts';
import { placeXftp } from './place-xftp.ts';

export interface GroupPlacement {
  readonly smp: readonly number[];
  readonly xftp: readonly number[];
}

export type GroupOutcome = { ok: true; placement: GroupPlacement } | { ok: false; kind: Kind; filtered: FilterCounts };

export interface PlaceGroupInput {
  readonly work: GroupWork;
  readonly group: GroupInfo;
  readonly previous: ReadonlyMap<string, number>;
  readonly sticky: StickyMode;
  readonly packing: Packing;
}

/** Places `group` tentatively in `work`; the caller commits on success. */
export function placeGroup(input: PlaceGroupInput): GroupOutcome {
  const first = attempt(input, new Set());
  if (first.ok || first.kind === 'smp' || !input.group.rules.xftpApart) return first;
  const reserved = reserveForXftp(input);
  if (reserved.size === 0) return first;
  const second = attempt(input, reserved);
  return second.ok ? second : first;
}

function attempt(input: PlaceGroupInput, reserved: ReadonlySet<number>): GroupOutcome {
  const smp = placeSmp({ ...input, reserved });
  if (!smp.ok) return { ok: false, kind: 'smp', filtered: smp.filtered };
  const xftp = placeXftp(input);
  if (!xftp.ok) return { ok: false, kind: 'xftp', filtered: xftp.filtered };
  return { ok: true, placement: { smp: smp.devices, xftp: xftp.devices } };
}

function reserveForXftp(input: PlaceGroupInput): Set<number> {
  const { work, group } = input;
  const { devices, locations, jurisdictions } = work.model;
  work.reset();
  const signature = (d: number) => {
    const dev = devices[d];
    return dev === undefined ? -1 : (dev.operator * locations.length + dev.location) * jurisdictions.length + dev.jurisdiction;
  };
  const candidates: number[] = [];
  const repeats = new Map<number, number>();
  for (let d = 0; d < devices.length; d++) {
    if (rejectDevice(work, group, d, 'smp') !== null) continue;
    candidates.push(d);
    repeats.set(signature(d), (repeats.get(signature(d)) ?? 0) + 1);
  }
  const score = (d: number) => (repeats.get(signature(d)) ?? 0) * 4_294_967_296 - pairHash(group.hash, devices[d]?.hash ?? 0);
  candidates.sort((a, b) => score(b) - score(a) || a - b);
  return new Set(candidates.slice(0, group.xftp));
}
