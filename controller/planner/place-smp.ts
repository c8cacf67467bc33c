/**
 * Places one group's SMP instances. Why this order:
 * 1. candidates: a few good devices from the attempt's index (candidates.ts), so the steps below
 *    cost O(shortlist), not O(fleet); only if they fail is every device scanned (and the reasons
 *    the others were turned away counted, for the explanation);
 * 2. keep: in sticky mode an instance stays on its previous device while that device is eligible
 *    and the tier's caps hold;
 * 3. seed: a bounded depth-first search adds devices until the tier's operators, locations and
 *    jurisdictions are met (evicting kept instances only if the search cannot succeed with them);
 * 4. fill: every other instance goes to the best device by spread (fewest of the group on the
 *    device, operator, location), then room, then a stable hash — or, when packing compactly, to a
 *    device the group or other groups already use.
 * Caps per device and operator are laminar, so once 3 succeeds on the full scan the fill fails only
 * when no placement exists.
 */
import { buildShortlist, quickCandidates, roomKey, scanAll, type Pools } from './candidates.ts';
import { rejectDevice, type FilterCounts } from './filters.ts';
import type { GroupWork } from './group-work.ts';
import { lexLess } from './score.ts';
import { instanceId, pairHash, previousDevicesOf, type GroupInfo } from './model.ts';

export type StickyMode = 'hold' | 'prefer' | 'none';
/**
 * spread: each instance to the device holding fewest of the group (the soft preference of
 * docs/reference/fleet-yaml.md); compact: fill the group's devices up to the tier's caps and prefer devices that
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
export type SmpOutcome = { ok: true; devices: number[]; shortlist: readonly number[] } | { ok: false; filtered: FilterCounts; room: number };

const SEARCH_BUDGET = 20_000;

export function placeSmp(input: SmpInput): SmpOutcome {
  const { work, group } = input;
  work.reset();
  const previous = previousDevicesOf(input.group, 'smp', input.previous);
  const quick = quickCandidates(work, group, 'smp', previous, input.reserved);
  const pools = group.dedicated ? buildShortlist(work, group, quick, previous) : { fill: quick, seed: quick };
  let devices = assign(input, pools, false);
  if (devices !== null) return { ok: true, devices, shortlist: pools.fill };
  // The quick candidates were not enough: every device, with the reasons the others were turned away.
  work.reset();
  const { candidates, filtered } = scanAll(work, group, 'smp', input.reserved);
  devices = assign(input, { fill: candidates, seed: candidates }, true);
  if (devices !== null) return { ok: true, devices, shortlist: candidates };
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

/**
 * Assigns every SMP instance, seeding diversity from `pools.seed` and filling from `pools.fill`
 * (plus the seeded and kept devices), or returns null. Kept instances are evicted to make room for
 * the spread only when `evict` is set (the full scan): a shortlist's failure is no reason to move them.
 */
function assign(input: SmpInput, pools: Pools, evict: boolean): number[] | null {
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
    const seeds = seedDiversity(input, pools.seed, free);
    if (seeds !== null) {
      let s = 0;
      for (let i = 0; i < n && s < seeds.length; i++) if (at[i] === -1) put(i, seeds[s++] ?? -1);
      break;
    }
    const victim = evict ? evictionVictim(work, at) : -1;
    if (victim === -1) return null;
    work.remove(at[victim] ?? -1, 'smp');
    at[victim] = -1;
  }
  const list = pools.fill === pools.seed ? pools.fill : [...new Set([...pools.fill, ...at.filter((d) => d !== -1)])];
  let need = at.filter((d) => d === -1).length + (group.rules.xftpApart ? 0 : group.xftp);
  for (let i = 0; i < n; i++) {
    if (at[i] !== -1) continue;
    const prev = input.sticky === 'prefer' ? (input.previous.get(instanceId(group.id, 'smp', i + 1)) ?? -1) : -1;
    const d = bestFill(input, list, prev, need--);
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
 * The device for one more instance; smaller scores are better, compared in order.
 * - dedicated groups claim whole devices, each lost to every other group, so they fill the devices
 *   they hold first (balanced), and claim another only when the tier's caps or room demand it;
 * - spread: fewest of the group on the device, operator and location, then the previous device
 *   (prefer mode), then most room;
 * - compact: a device the group uses, then one another group uses, then best fit (the smallest
 *   room that still takes the group's remaining `need`, else the most room), then spread.
 * A stable per-(group, device) hash breaks the last tie.
 */
function bestFill(input: SmpInput, list: readonly number[], previous: number, need: number): number {
  const { work, group } = input;
  const { devices } = work.model;
  const compact = input.packing === 'compact';
  let best = -1;
  const bestScore = [0, 0, 0, 0, 0, 0, 0];
  const score = [0, 0, 0, 0, 0, 0, 0];
  for (const d of list) {
    const dev = devices[d];
    if (dev === undefined || !canTake(input, d)) continue;
    const onDevice = work.smpOn[d] ?? 0;
    const onOperator = work.opCount[dev.operator] ?? 0;
    const onLocation = work.locCount[dev.location] ?? 0;
    const room = work.smpRoom(d);
    const fit = room >= need ? room : 1_000_000 - room;
    const notPrevious = d === previous ? 0 : 1;
    if (group.dedicated) {
      score[0] = onDevice > 0 ? 0 : 1;
      [score[1], score[2], score[3], score[4], score[5]] = [onDevice, onOperator, onLocation, notPrevious, compact ? fit : -room];
    } else if (compact) {
      score[0] = onDevice > 0 ? 0 : (work.load.groupsOn[d] ?? 0) > 0 ? 1 : 2;
      [score[1], score[2], score[3], score[4], score[5]] = [fit, onOperator, onLocation, notPrevious, 0];
    } else {
      [score[0], score[1], score[2], score[3], score[4], score[5]] = [onDevice, onOperator, onLocation, notPrevious, -room, 0];
    }
    score[6] = -pairHash(group.hash, dev.hash);
    if (best === -1 || lexLess(score, bestScore)) {
      best = d;
      for (let i = 0; i < score.length; i++) bestScore[i] = score[i] ?? 0;
    }
  }
  return best;
}

