/**
 * Where a group's instances may go: a quick shortlist from the attempt's device index, or every
 * device with the reasons the others were turned away (the slow path, for failures and explanations).
 */
import { noFilterCounts, rejectDevice, type FilterCounts } from './filters.ts';
import type { GroupWork, Kind } from './group-work.ts';
import { pairHash, type GroupInfo } from './model.ts';

/** Candidates beyond the instances to place: slack for the caps and for a few ineligible picks. */
const SLACK = 8;

/** Room first, then a stable per-(group, device) hash so groups spread over different devices. */
export function roomKey(work: GroupWork, g: GroupInfo, d: number): number {
  return work.smpRoom(d) * 4_294_967_296 + pairHash(g.hash, work.model.devices[d]?.hash ?? 0);
}

/** Every device checked: the eligible ones, in index order, and counts of why the rest were not. */
export function scanAll(work: GroupWork, g: GroupInfo, kind: Kind, reserved: ReadonlySet<number>): { candidates: number[]; filtered: FilterCounts } {
  const filtered = noFilterCounts();
  const candidates: number[] = [];
  const count = work.model.devices.length;
  for (let d = 0; d < count; d++) {
    const reason = rejectDevice(work, g, d, kind);
    if (reason !== null) filtered[reason]++;
    else if (!reserved.has(d)) candidates.push(d);
  }
  return { candidates, filtered };
}

/**
 * A few good candidates without visiting the whole fleet: for a shared group the roomiest devices
 * open to shared groups, for a dedicated group every device no group uses yet; plus `extra`
 * (the group's previous or current devices) when eligible.
 */
export function quickCandidates(work: GroupWork, g: GroupInfo, kind: Kind, extra: Iterable<number>, reserved: ReadonlySet<number>): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  const accept = (d: number) => {
    if (seen.has(d) || reserved.has(d) || rejectDevice(work, g, d, kind) !== null) return false;
    seen.add(d);
    return true;
  };
  if (g.dedicated) {
    // SMP needs every empty device (to find the tier's spread); XFTP needs only a few.
    const empty = work.index.emptyDevices();
    const limit = kind === 'smp' ? empty.length : g.xftp + SLACK;
    for (let i = 0; i < empty.length && out.length < limit; i++) {
      const d = empty[(g.hash + i) % empty.length] ?? -1;
      if (accept(d)) out.push(d);
    }
  } else {
    work.index.roomiest(g.smp + g.xftp + SLACK, g.hash, accept, out);
  }
  for (const d of extra) if (accept(d)) out.push(d);
  return out;
}

/** Devices to seed the tier's spread from, and devices to fill with the rest. */
export interface Pools {
  readonly seed: readonly number[];
  readonly fill: readonly number[];
}

/**
 * For a group with many candidates: fill from the `smp + SLACK` roomiest plus `extra`; seed from
 * those plus the roomiest device of every operator and jurisdiction — enough to meet the tier's
 * spread almost always (distinct operators mostly sit in distinct locations; when not, the caller
 * falls back to every device) while the seed search and the fill stay cheap.
 */
export function buildShortlist(work: GroupWork, group: GroupInfo, candidates: readonly number[], extra: readonly number[]): Pools {
  const k = group.smp + SLACK;
  if (candidates.length <= k * 2) return { seed: candidates, fill: candidates };
  const { devices } = work.model;
  const top = new TopK(k);
  const bestOf = (size: number) => ({ dev: new Int32Array(size).fill(-1), key: new Float64Array(size) });
  const byOp = bestOf(work.model.operators.length);
  const byJur = bestOf(work.model.jurisdictions.length);
  const offer = (best: { dev: Int32Array; key: Float64Array }, slot: number, d: number, key: number) => {
    if ((best.dev[slot] ?? -1) === -1 || key > (best.key[slot] ?? 0)) {
      best.dev[slot] = d;
      best.key[slot] = key;
    }
  };
  const eligible = new Set(candidates);
  for (const d of candidates) {
    const dev = devices[d];
    if (dev === undefined) continue;
    const key = roomKey(work, group, d);
    top.offer(d, key);
    offer(byOp, dev.operator, d, key);
    offer(byJur, dev.jurisdiction, d, key);
  }
  const fill = new Set<number>(top.items());
  for (const d of extra) if (eligible.has(d)) fill.add(d);
  const seed = new Set(fill);
  for (const best of [byOp, byJur]) best.dev.forEach((d) => d !== -1 && seed.add(d));
  const sorted = (xs: Set<number>) => [...xs].sort((a, b) => a - b);
  return { seed: sorted(seed), fill: sorted(fill) };
}

/** Keeps the k items with the largest keys (a min-heap). */
class TopK {
  private readonly keys: number[] = [];
  private readonly ids: number[] = [];
  constructor(private readonly k: number) {}
  offer(id: number, key: number): void {
    if (this.ids.length < this.k) {
      this.ids.push(id);
      this.keys.push(key);
      this.up(this.ids.length - 1);
    } else if (key > (this.keys[0] ?? 0)) {
      this.ids[0] = id;
      this.keys[0] = key;
      this.down(0);
    }
  }
  items(): number[] {
    return [...this.ids];
  }
  private swap(i: number, j: number): void {
    [this.keys[i], this.keys[j]] = [this.keys[j] ?? 0, this.keys[i] ?? 0];
    [this.ids[i], this.ids[j]] = [this.ids[j] ?? 0, this.ids[i] ?? 0];
  }
  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((this.keys[p] ?? 0) <= (this.keys[i] ?? 0)) return;
      this.swap(i, p);
      i = p;
    }
  }
  private down(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.keys.length && (this.keys[l] ?? 0) < (this.keys[m] ?? 0)) m = l;
      if (r < this.keys.length && (this.keys[r] ?? 0) < (this.keys[m] ?? 0)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
