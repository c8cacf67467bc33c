/**
 * Places one group's SMP instances. Why this order:
 * 1. scan: every device is checked once (reasons counted) and a shortlist is kept — the devices with
 *    the most room plus the best device of every operator, jurisdiction and (when the tier needs
 *    several) location — so the steps below cost O(shortlist), not O(fleet);
 * 2. keep: in sticky mode an instance stays on its previous device while that device is eligible
 *    and the tier's caps hold;
 * 3. seed: a bounded depth-first search adds devices until the tier's operators, locations and
 *    jurisdictions are met (evicting kept instances only if the search cannot succeed with them);
 * 4. fill: every other instance goes to the best device by spread (fewest of the group on the
 *    device, operator, location), then room, then a stable hash — or, when packing compactly, to a
 *    device the group or other groups already use.
 * Caps per device and operator are laminar, so once 3 succeeds a fill that fails on the shortlist
 * is retried on the whole candidate list and then fails only when no placement exists.
 */
import { rejectDevice, noFilterCounts, type FilterCounts } from './filters.ts';
import type { GroupWork } from './group-work.ts';
import { instanceId, pairHash, type GroupInfo } from './model.ts';

export type StickyMode = 'hold' | 'prefer' | 'none';
/**
 * spread: each instance to the device holding fewest of the group (the soft preference of
 * fleet-spec.md); compact: fill the group's devices up to the tier's caps and prefer devices that
 * already host others, leaving whole devices free for dedicated groups.
 */
export type Packing = 'spread' | 'compact';

export interface SmpInput {
  readonly work: GroupWork;
  readonly group: GroupInfo;
  /** Previous device per instance id. */
  readonly previous: ReadonlyMap<string, number>;
  readonly sticky: StickyMode;
  readonly packing: Packing;
  /** Devices kept free for the group's XFTP. */
  readonly reserved: ReadonlySet<number>;
}

/** On failure: the devices filtered per reason, and how many SMP the candidates could hold within the caps. */
export type SmpOutcome = { ok: true; devices: number[] } | { ok: false; filtered: FilterCounts; room: number };

const SEARCH_BUDGET = 20_000;

export function placeSmp(input: SmpInput): SmpOutcome {
  const { work, group } = input;
  work.reset();
  const filtered = noFilterCounts();
  const candidates: number[] = [];
  const count = work.model.devices.length;
  for (let d = 0; d < count; d++) {
    const reason = rejectDevice(work, group, d, 'smp');
    if (reason !== null) filtered[reason]++;
    else if (!input.reserved.has(d)) candidates.push(d);
  }
  const shortlist = buildShortlist(input, candidates);
  let devices = assign(input, shortlist);
  if (devices === null && shortlist.length < candidates.length) devices = assign(input, candidates);
  if (devices !== null) return { ok: true, devices };
  work.reset();
  return { ok: false, filtered, room: roomWithinCaps(work, group, candidates) };
}

/** Most SMP instances `candidates` hold under the tier's per-device and per-operator caps. */
export function roomWithinCaps(work: GroupWork, g: GroupInfo, candidates: readonly number[]): number {
  const perOperator = new Map<number, number>();
  for (const d of candidates) {
    const op = work.model.devices[d]?.operator ?? -1;
    perOperator.set(op, (perOperator.get(op) ?? 0) + Math.min(work.smpRoom(d), g.rules.maxPerDevice));
  }
  let total = 0;
  for (const room of perOperator.values()) total += Math.min(room, g.rules.maxPerOperator);
  return total;
}

/** Room first, then a stable per-(group, device) hash so groups spread over different devices. */
function roomKey(work: GroupWork, g: GroupInfo, d: number): number {
  return work.smpRoom(d) * 4_294_967_296 + pairHash(g.hash, work.model.devices[d]?.hash ?? 0);
}

function buildShortlist(input: SmpInput, candidates: readonly number[]): number[] {
  const { work, group } = input;
  const k = group.smp + 8;
  if (candidates.length <= k * 2) return [...candidates];
  const { devices } = work.model;
  const top = new TopK(k);
  const bestOf = (size: number) => ({ dev: new Int32Array(size).fill(-1), key: new Float64Array(size) });
  const byOp = bestOf(work.model.operators.length);
  const byJur = bestOf(work.model.jurisdictions.length);
  const byLoc = group.rules.minLocations > 1 ? bestOf(work.model.locations.length) : null;
  const offer = (best: { dev: Int32Array; key: Float64Array }, slot: number, d: number, key: number) => {
    if ((best.dev[slot] ?? -1) === -1 || key > (best.key[slot] ?? 0)) {
      best.dev[slot] = d;
      best.key[slot] = key;
    }
  };
  for (const d of candidates) {
    const dev = devices[d];
    if (dev === undefined) continue;
    const key = roomKey(work, group, d);
    top.offer(d, key);
    offer(byOp, dev.operator, d, key);
    offer(byJur, dev.jurisdiction, d, key);
    if (byLoc) offer(byLoc, dev.location, d, key);
  }
  const picked = new Set<number>(top.items());
  for (const best of [byOp, byJur, byLoc]) best?.dev.forEach((d) => d !== -1 && picked.add(d));
  for (let i = 1; i <= group.smp; i++) {
    const prev = input.previous.get(instanceId(group.id, 'smp', i));
    if (prev !== undefined) picked.add(prev);
  }
  return [...picked].sort((a, b) => a - b);
}

/** Assigns every SMP instance to a device of `list`, or returns null. */
function assign(input: SmpInput, list: readonly number[]): number[] | null {
  const { work, group } = input;
  work.reset();
  const n = group.smp;
  const at: number[] = new Array<number>(n).fill(-1);
  const fits = (d: number) => canTake(input, d);
  const put = (i: number, d: number) => {
    at[i] = d;
    work.add(d, 'smp');
  };

  if (input.sticky === 'hold') {
    for (let i = 0; i < n; i++) {
      const prev = input.previous.get(instanceId(group.id, 'smp', i + 1));
      if (prev !== undefined && !input.reserved.has(prev) && fits(prev)) put(i, prev);
    }
  }
  // Seed diversity; if the kept instances leave too few free ones, evict kept instances one by one
  // (from the device holding most of the group, highest ordinal first).
  for (;;) {
    const free = at.filter((d) => d === -1).length;
    const seeds = seedDiversity(input, list, free);
    if (seeds !== null) {
      let s = 0;
      for (let i = 0; i < n && s < seeds.length; i++) if (at[i] === -1) put(i, seeds[s++] ?? -1);
      break;
    }
    const victim = evictionVictim(work, at);
    if (victim === -1) return null;
    work.remove(at[victim] ?? -1, 'smp');
    at[victim] = -1;
  }
  for (let i = 0; i < n; i++) {
    if (at[i] !== -1) continue;
    const prev = input.sticky === 'prefer' ? (input.previous.get(instanceId(group.id, 'smp', i + 1)) ?? -1) : -1;
    const d = bestFill(input, list, prev);
    if (d === -1) return null;
    put(i, d);
  }
  return at;
}

function canTake(input: SmpInput, d: number): boolean {
  const { work, group } = input;
  const dev = work.model.devices[d];
  if (dev === undefined || rejectDevice(work, group, d, 'smp') !== null) return false;
  return (work.smpOn[d] ?? 0) < group.rules.maxPerDevice && (work.opCount[dev.operator] ?? 0) < group.rules.maxPerOperator;
}

function evictionVictim(work: GroupWork, at: readonly number[]): number {
  let victim = -1;
  for (let i = 0; i < at.length; i++) {
    const d = at[i] ?? -1;
    if (d === -1) continue;
    if (victim === -1 || (work.smpOn[d] ?? 0) >= (work.smpOn[at[victim] ?? -1] ?? 0)) victim = i;
  }
  return victim;
}

/**
 * Devices to add so the group's SMP spans the tier's operators, locations and jurisdictions,
 * using at most `free` instances; [] when already met, null when no such set was found.
 * Depth-first over one representative device per (operator, location, jurisdiction), most
 * unmet dimensions first; each step must add at least one unmet dimension.
 */
function seedDiversity(input: SmpInput, list: readonly number[], free: number): number[] | null {
  const { work, group } = input;
  const { rules } = group;
  const unmet = () =>
    Math.max(rules.minOperators - work.operators, rules.minLocations - work.locations, rules.minJurisdictions - work.jurisdictions);
  if (unmet() <= 0) return [];
  if (work.operators === 0 && unmet() <= 1) return free > 0 ? [] : null; // the fill places at least one
  const reps = representatives(input, list);
  const chosen: number[] = [];
  let budget = SEARCH_BUDGET;
  const gain = (d: number): number => {
    const dev = work.model.devices[d];
    if (dev === undefined) return 0;
    return (
      Number(work.operators < rules.minOperators && work.opCount[dev.operator] === 0) +
      Number(work.locations < rules.minLocations && work.locCount[dev.location] === 0) +
      Number(work.jurisdictions < rules.minJurisdictions && work.jurCount[dev.jurisdiction] === 0)
    );
  };
  const search = (left: number): boolean => {
    const need = unmet();
    if (need <= 0) return true;
    if (need > left || --budget < 0) return false;
    const options = reps
      .map((d) => ({ d, gain: gain(d) }))
      .filter((o) => o.gain > 0 && canTake(input, o.d))
      .sort((a, b) => b.gain - a.gain);
    for (const { d } of options) {
      work.add(d, 'smp');
      chosen.push(d);
      if (search(left - 1)) return true;
      chosen.pop();
      work.remove(d, 'smp');
    }
    return false;
  };
  // Iterative deepening: the fewest seed devices first, so the group claims as few as it must.
  let found = false;
  for (let limit = unmet(); limit <= free && !found && budget > 0; limit++) found = search(limit);
  for (const d of chosen) work.remove(d, 'smp'); // the caller adds them back with their instance
  return found ? chosen : null;
}

/** The roomiest device of each distinct (operator, location, jurisdiction), roomiest first. */
function representatives(input: SmpInput, list: readonly number[]): number[] {
  const { work, group } = input;
  const { devices, locations, jurisdictions } = work.model;
  const best = new Map<number, { d: number; key: number }>();
  for (const d of list) {
    const dev = devices[d];
    if (dev === undefined || !canTake(input, d)) continue;
    const sig = (dev.operator * locations.length + dev.location) * jurisdictions.length + dev.jurisdiction;
    const key = roomKey(work, group, d);
    const cur = best.get(sig);
    if (cur === undefined || key > cur.key) best.set(sig, { d, key });
  }
  return [...best.values()].sort((a, b) => b.key - a.key).map((x) => x.d);
}

/**
 * The device for one more instance. Lexicographic, smaller is better: packing (spread: fewest of the
 * group on the device; compact: a device the group, then any group, already uses), fewest of the
 * group on the operator and location, the previous device (prefer mode), most room, stable hash.
 */
function bestFill(input: SmpInput, list: readonly number[], previous: number): number {
  const { work, group } = input;
  const { devices } = work.model;
  const compact = input.packing === 'compact';
  let best = -1;
  let [b0, b1, b2, b3, b4] = [0, 0, 0, 0, 0];
  for (const d of list) {
    const dev = devices[d];
    if (dev === undefined || !canTake(input, d)) continue;
    const s0 = compact ? ((work.smpOn[d] ?? 0) > 0 ? 0 : (work.load.groupsOn[d] ?? 0) > 0 ? 1 : 2) : (work.smpOn[d] ?? 0);
    const s1 = work.opCount[dev.operator] ?? 0;
    const s2 = work.locCount[dev.location] ?? 0;
    const s3 = d === previous ? 0 : 1;
    const s4 = -roomKey(work, group, d);
    if (best === -1 || s0 < b0 || (s0 === b0 && (s1 < b1 || (s1 === b1 && (s2 < b2 || (s2 === b2 && (s3 < b3 || (s3 === b3 && s4 < b4)))))))) {
      best = d;
      [b0, b1, b2, b3, b4] = [s0, s1, s2, s3, s4];
    }
  }
  return best;
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
