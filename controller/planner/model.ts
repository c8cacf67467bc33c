/**
 * The spec indexed for the planner: devices sorted by id and addressed by index, operators,
 * locations and jurisdictions as small integers, and stable hashes for tie-breaks.
 * {@link Load} is the mutable state of one planning attempt (typed arrays, cheap to reset).
 */
import type { DeviceState, FleetSpec, Tier } from '#shared/schema/fleet-spec.ts';
import { MEMORY_MB, tierRules, type TierRules } from './tier-rules.ts';

export interface DeviceInfo {
  readonly id: string;
  readonly index: number;
  readonly operator: number;
  readonly location: number;
  readonly jurisdiction: number;
  readonly state: DeviceState;
  readonly maxInstances: number;
  readonly memoryMb: number;
  readonly hash: number;
}

export interface GroupInfo {
  readonly id: string;
  readonly index: number;
  readonly tier: Tier;
  readonly smp: number;
  readonly xftp: number;
  /** Asked for, or forced by the tier. */
  readonly dedicated: boolean;
  readonly rules: TierRules;
  readonly hash: number;
}

export interface Model {
  readonly fleet: string;
  readonly devices: readonly DeviceInfo[];
  readonly deviceIndex: ReadonlyMap<string, number>;
  readonly operators: readonly string[];
  readonly locations: readonly string[];
  readonly jurisdictions: readonly string[];
  readonly groups: readonly GroupInfo[];
}

/** Instance ids are part of the contract: `<group>-smp-01` … `<group>-xftp-01`. */
export function instanceId(group: string, kind: 'smp' | 'xftp', ordinal: number): string {
  return `${group}-${kind}-${String(ordinal).padStart(2, '0')}`;
}

/** The previous devices of a group's instances of one kind, in ordinal order (missing ones skipped). */
export function previousDevicesOf(g: GroupInfo, kind: 'smp' | 'xftp', previous: ReadonlyMap<string, number>): number[] {
  const out: number[] = [];
  for (let i = 1; i <= (kind === 'smp' ? g.smp : g.xftp); i++) {
    const d = previous.get(instanceId(g.id, kind, i));
    if (d !== undefined) out.push(d);
  }
  return out;
}

/** FNV-1a, 32 bits: a stable hash of an id. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Mixes a group hash and a device hash into a stable 32-bit tie-break (murmur3 finaliser). */
export function pairHash(groupHash: number, deviceHash: number): number {
  let h = (groupHash ^ Math.imul(deviceHash, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function interner(): { ids: string[]; of: (s: string) => number } {
  const ids: string[] = [];
  const map = new Map<string, number>();
  return {
    ids,
    of(s) {
      let i = map.get(s);
      if (i === undefined) {
        i = ids.length;
        ids.push(s);
        map.set(s, i);
      }
      return i;
    },
  };
}

export function buildModel(spec: FleetSpec): Model {
  const operators = interner();
  const locations = interner();
  const jurisdictions = interner();
  const sorted = [...spec.devices].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const devices = sorted.map((d, index): DeviceInfo => ({
    id: d.id,
    index,
    operator: operators.of(d.operator),
    location: locations.of(d.location),
    jurisdiction: jurisdictions.of(d.jurisdiction),
    state: d.state,
    maxInstances: d.capacity.maxInstances,
    memoryMb: d.capacity.memoryMb,
    hash: fnv1a(d.id),
  }));
  const groups = spec.groups.map((g, index): GroupInfo => {
    const rules = tierRules(g.tier, g.smp);
    return { id: g.id, index, tier: g.tier, smp: g.smp, xftp: g.xftp, dedicated: g.dedicated || rules.forceDedicated, rules, hash: fnv1a(g.id) };
  });
  return {
    fleet: spec.fleet,
    devices,
    deviceIndex: new Map(devices.map((d) => [d.id, d.index])),
    operators: operators.ids,
    locations: locations.ids,
    jurisdictions: jurisdictions.ids,
    groups,
  };
}

/**
 * Which groups a previous placement had on each device. In sticky mode a device stays claimed by
 * them, so a dedicated group placed earlier in the order does not take a device whose instances
 * (and onion addresses) are meant to stay.
 */
export interface Claims {
  /** A group previously on the device (-1: none). */
  readonly first: Int32Array;
  /** 1 when more than one group was. */
  readonly several: Uint8Array;
  /** Groups that may ignore the claims. */
  readonly waived: ReadonlySet<number>;
}

/** True when a previous placement had a group other than `group` on device `d`, and `group` must respect it. */
export function claimedByOther(claims: Claims, d: number, group: number): boolean {
  if (claims.waived.has(group)) return false;
  const first = claims.first[d] ?? -1;
  return claims.several[d] === 1 || (first !== -1 && first !== group);
}

export function previousClaims(model: Model, previous: ReadonlyMap<string, number>, waived: ReadonlySet<number>): Claims {
  const claims: Claims = { first: new Int32Array(model.devices.length).fill(-1), several: new Uint8Array(model.devices.length), waived };
  const groupOf = new Map<string, number>();
  for (const g of model.groups) {
    for (let i = 1; i <= g.smp; i++) groupOf.set(instanceId(g.id, 'smp', i), g.index);
    for (let i = 1; i <= g.xftp; i++) groupOf.set(instanceId(g.id, 'xftp', i), g.index);
  }
  for (const [instance, d] of previous) {
    const g = groupOf.get(instance);
    if (g === undefined) continue;
    const first = claims.first[d] ?? -1;
    if (first === -1) claims.first[d] = g;
    else if (first !== g) claims.several[d] = 1;
  }
  return claims;
}

/** What is left on each device during one attempt, and which dedicated group owns it (-1: none). */
export interface Load {
  readonly slots: Int32Array;
  readonly memory: Int32Array;
  readonly owner: Int32Array;
  /** Number of distinct groups with at least one instance on the device. */
  readonly groupsOn: Int32Array;
  /** Previous occupants that hold their devices (sticky mode), or null. */
  readonly claims: Claims | null;
}

export function emptyLoad(model: Model, claims: Claims | null = null): Load {
  const n = model.devices.length;
  const load: Load = { slots: new Int32Array(n), memory: new Int32Array(n), owner: new Int32Array(n).fill(-1), groupsOn: new Int32Array(n), claims };
  for (const d of model.devices) {
    load.slots[d.index] = d.maxInstances;
    load.memory[d.index] = d.memoryMb - MEMORY_MB.deviceBase;
  }
  return load;
}
