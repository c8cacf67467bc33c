/**
 * One group, SMP then XFTP. When the tier keeps XFTP apart from the group's SMP and the SMP took
 * every device XFTP could use, the group is tried once more with XFTP devices reserved first
 * (the ones whose operator/location/jurisdiction other candidates repeat, so the SMP spread loses least).
 */
import { rejectDevice, type FilterCounts } from './filters.ts';
import type { GroupWork, Kind } from './group-work.ts';
import { pairHash, previousDevicesOf, type GroupInfo } from './model.ts';
import { placeSmp, type Packing, type StickyMode } from './place-smp.ts';
import { placeXftp } from './place-xftp.ts';

export interface GroupPlacement {
  readonly smp: readonly number[];
  readonly xftp: readonly number[];
}

export type GroupOutcome = { ok: true; placement: GroupPlacement } | { ok: false; kind: Kind; filtered: FilterCounts; room: number };

export interface PlaceGroupInput {
  readonly work: GroupWork;
  readonly group: GroupInfo;
  readonly previous: ReadonlyMap<string, number>;
  readonly sticky: StickyMode;
  readonly packing: Packing;
}

/** Reservations tried for XFTP, best first, before the group is given up. */
const RESERVATION_TRIES = 6;

/** Places `group` tentatively in `work`; the caller commits on success. */
export function placeGroup(input: PlaceGroupInput): GroupOutcome {
  const first = attempt(input, keptXftpDevices(input));
  if (first.ok || first.kind === 'smp' || !input.group.rules.xftpApart) return first;
  const order = reservationOrder(input);
  for (let t = 0; t < RESERVATION_TRIES && t < order.length; t++) {
    const reserved = new Set(order.slice(t, t + input.group.xftp));
    const next = attempt(input, reserved);
    if (next.ok) return next;
  }
  return first;
}

/** Sticky and apart: the devices of the group's previous XFTP stay free of its SMP. */
function keptXftpDevices(input: PlaceGroupInput): Set<number> {
  const apart = input.sticky === 'hold' && input.group.rules.xftpApart;
  return new Set(apart ? previousDevicesOf(input.group, 'xftp', input.previous) : []);
}

function attempt(input: PlaceGroupInput, reserved: ReadonlySet<number>): GroupOutcome {
  const smp = placeSmp({ ...input, reserved });
  if (!smp.ok) return { ok: false, kind: 'smp', filtered: smp.filtered, room: smp.room };
  const xftp = placeXftp(input, smp.shortlist);
  if (!xftp.ok) return { ok: false, kind: 'xftp', filtered: xftp.filtered, room: xftp.room };
  return { ok: true, placement: { smp: smp.devices, xftp: xftp.devices } };
}

/**
 * Devices to try keeping free for XFTP, best first: those whose operator/location/jurisdiction
 * other candidates repeat (the SMP spread loses least), then those whose operator has the most
 * room beyond its cap (the SMP capacity loses least), then a stable hash.
 */
function reservationOrder(input: PlaceGroupInput): number[] {
  const { work, group } = input;
  const { devices, locations, jurisdictions } = work.model;
  work.reset();
  const signature = (d: number) => {
    const dev = devices[d];
    return dev === undefined ? -1 : (dev.operator * locations.length + dev.location) * jurisdictions.length + dev.jurisdiction;
  };
  const candidates: number[] = [];
  const repeats = new Map<number, number>();
  const operatorRoom = new Map<number, number>();
  for (let d = 0; d < devices.length; d++) {
    if (rejectDevice(work, group, d, 'smp') !== null) continue;
    const op = devices[d]?.operator ?? -1;
    candidates.push(d);
    repeats.set(signature(d), (repeats.get(signature(d)) ?? 0) + 1);
    operatorRoom.set(op, (operatorRoom.get(op) ?? 0) + Math.min(work.smpRoom(d), group.rules.maxPerDevice));
  }
  const slack = (d: number) => (operatorRoom.get(devices[d]?.operator ?? -1) ?? 0) - group.rules.maxPerOperator - Math.min(work.smpRoom(d), group.rules.maxPerDevice);
  const hash = (d: number) => pairHash(group.hash, devices[d]?.hash ?? 0);
  return candidates.sort(
    (a, b) => (repeats.get(signature(b)) ?? 0) - (repeats.get(signature(a)) ?? 0) || slack(b) - slack(a) || hash(b) - hash(a) || a - b,
  );
}
