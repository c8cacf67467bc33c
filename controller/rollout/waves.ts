/**
 * The rollout planner: orders the devices an apply changes into waves, so that at every moment each
 * group keeps enough of its serving instances up. Pure: a function of its arguments.
 *
 * The model: while a device changes, every instance it serves now may be down; an instance it does
 * not serve yet (a new placement) is nobody's server yet. So a wave is safe for a group when at most
 * `maxUnavailable` of the devices in it serve that group now. Devices that serve nothing run no risk
 * and go in the first wave (a first deployment is a single wave).
 *
 * Order (why): the canary wave first — the devices whose failure costs least (lowest tier served,
 * fewest instances, then id) — so a bad change meets one device of a low tier before any other; then
 * the rest first-fit by id into the earliest wave that keeps every group within its limit, which
 * gives few waves and the same waves for the same input.
 */
import type { Tier } from '#shared/schema/fleet-spec.ts';
import { TIER_ROLLOUT, tierRank } from './defaults.ts';

export const STRATEGIES = ['rolling', 'all-at-once'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export interface RolloutDevice {
  readonly id: string;
  /** Instances the device serves now, per group (its running desired state; empty when new). */
  readonly serves: Readonly<Record<string, number>>;
  /**
   * Devices that must change in an earlier wave: those an instance moving here with its identity
   * leaves (docs/continuity.md, "Hand-over": the old device stops it before this one starts it).
   */
  readonly after?: readonly string[];
}

export interface RolloutGroup {
  readonly id: string;
  readonly tier: Tier;
  /** Instances of the group serving now, on every device (changed or not). */
  readonly serving: number;
}

export interface WaveOptions {
  readonly strategy: Strategy;
  /** Devices in the canary wave; null: the tier default (the lowest of the groups' defaults). */
  readonly canary: number | null;
  /** Devices of one group changing at once; null: each group's tier default. */
  readonly maxUnavailable: number | null;
  /** Soak of every wave; null: per wave, the longest tier default of the groups it touches. */
  readonly soakSeconds: number | null;
}

export interface Wave {
  readonly devices: readonly string[];
  readonly canary: boolean;
  readonly soakSeconds: number;
  /** Groups served by a device of this wave. */
  readonly groups: readonly string[];
}

export interface WavePlan {
  readonly waves: readonly Wave[];
  /** Per group: its serving instances now, the devices allowed to change at once, and the fewest serving instances left up during any wave. */
  readonly groups: Readonly<Record<string, { readonly tier: Tier; readonly serving: number; readonly maxUnavailable: number; readonly minimumHealthy: number }>>;
  /** Sentences for the admin: a group that goes down entirely while one device changes. */
  readonly warnings: readonly string[];
}

/** Plans the waves of a rollout of `changed` devices. Never mutates its arguments; same input, same output. */
export function planWaves(changed: readonly RolloutDevice[], groups: readonly RolloutGroup[], options: WaveOptions): WavePlan {
  const tierOf = new Map(groups.map((g) => [g.id, g.tier]));
  const limit = (group: string): number => Math.max(1, options.maxUnavailable ?? TIER_ROLLOUT[tierOf.get(group) ?? 'standard'].maxUnavailable);
  const servedBy = (d: RolloutDevice): string[] => Object.keys(d.serves).filter((g) => (d.serves[g] ?? 0) > 0).sort();
  const devices = [...changed].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const free = devices.filter((d) => servedBy(d).length === 0);
  const serving = devices.filter((d) => servedBy(d).length > 0);

  const fits = (bucket: readonly RolloutDevice[], d: RolloutDevice) =>
    servedBy(d).every((g) => bucket.filter((o) => (o.serves[g] ?? 0) > 0).length + 1 <= limit(g));
  const buckets: RolloutDevice[][] = [];
  let canaryWave = false;
  if (options.strategy === 'all-at-once' || serving.length === 0) {
    buckets.push(devices);
  } else {
    const wanted = options.canary ?? Math.min(...serving.flatMap(servedBy).map((g) => TIER_ROLLOUT[tierOf.get(g) ?? 'standard'].canary));
    const risk = (d: RolloutDevice) => [Math.max(...servedBy(d).map((g) => tierRank(tierOf.get(g) ?? 'standard'))), Object.values(d.serves).reduce((a, b) => a + b, 0)] as const;
    const byRisk = [...serving].sort((a, b) => {
      const [ra, rb] = [risk(a), risk(b)];
      return ra[0] - rb[0] || ra[1] - rb[1] || (a.id < b.id ? -1 : 1);
    });
    const canary: RolloutDevice[] = [];
    for (const d of byRisk) if (canary.length < wanted && fits(canary, d)) canary.push(d);
    if (canary.length > 0 && canary.length < serving.length) {
      buckets.push([...canary, ...free]);
      canaryWave = true;
    } else if (free.length > 0) {
      buckets.push([...free]);
    }
    const taken = new Set(buckets.flat().map((d) => d.id));
    const rest: RolloutDevice[][] = [];
    for (const d of serving) {
      if (taken.has(d.id)) continue;
      const bucket = rest.find((b) => fits(b, d));
      if (bucket === undefined) rest.push([d]);
      else bucket.push(d);
    }
    buckets.push(...rest);
  }

  const waves: Wave[] = afterHandOvers(buckets.filter((b) => b.length > 0), options.strategy === 'all-at-once' ? () => true : fits).map((bucket, k) => {
    const touched = [...new Set(bucket.flatMap(servedBy))].sort();
    const soak = options.soakSeconds ?? Math.max(0, ...touched.map((g) => TIER_ROLLOUT[tierOf.get(g) ?? 'standard'].soakSeconds));
    return { devices: bucket.map((d) => d.id).sort(), canary: canaryWave && k === 0, soakSeconds: soak, groups: touched };
  });

  const summary: Record<string, WavePlan['groups'][string]> = {};
  const warnings: string[] = [];
  for (const g of [...groups].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const servingNow = g.serving;
    if (!changed.some((d) => (d.serves[g.id] ?? 0) > 0)) continue;
    const down = Math.max(0, ...waves.map((w) => w.devices.reduce((n, id) => n + (changed.find((d) => d.id === id)?.serves[g.id] ?? 0), 0)));
    summary[g.id] = { tier: g.tier, serving: servingNow, maxUnavailable: limit(g.id), minimumHealthy: servingNow - down };
    if (servingNow - down === 0) warnings.push(`group ${g.id} (${g.tier}) has no serving instance left while its devices of one wave change — ${options.strategy === 'all-at-once' ? 'use --strategy rolling' : 'place it on more devices'}`);
  }
  return { waves, groups: summary, warnings };
}

/**
 * Moves each device that receives a moved identity into a wave after the devices it leaves (the
 * first later wave it fits, or a new one at the end), so one onion is never served by two devices at once. A cycle
 * (two devices swapping instances) cannot be ordered: those devices stay where they are.
 */
function afterHandOvers(buckets: readonly RolloutDevice[][], fits: (bucket: readonly RolloutDevice[], d: RolloutDevice) => boolean): RolloutDevice[][] {
  const out = buckets.map((b) => [...b]);
  const present = new Set(out.flat().map((d) => d.id));
  const edges = new Map(out.flat().map((d) => [d.id, new Set((d.after ?? []).filter((a) => a !== d.id && present.has(a)))]));
  /** `to` must come after `from`, directly or through others. */
  const mustFollow = (to: string, from: string, seen = new Set<string>()): boolean => {
    if (seen.has(to)) return false;
    seen.add(to);
    return [...(edges.get(to) ?? [])].some((a) => a === from || mustFollow(a, from, seen));
  };
  for (const [id, after] of edges) for (const a of [...after]) if (mustFollow(a, id)) after.delete(a); // a cycle: left as planned
  for (let round = 0; round <= present.size * present.size; round++) {
    const at = new Map(out.flatMap((b, k) => b.map((d) => [d.id, k] as const)));
    const late = out.flat().find((d) => [...(edges.get(d.id) ?? [])].some((a) => (at.get(a) ?? -1) >= (at.get(d.id) ?? 0)));
    if (late === undefined) break;
    const earliest = Math.max(...[...(edges.get(late.id) ?? [])].map((a) => at.get(a) ?? -1)) + 1;
    const from = at.get(late.id) ?? 0;
    out[from] = (out[from] ?? []).filter((d) => d.id !== late.id);
    let target = earliest;
    while (target < out.length && !fits(out[target] ?? [], late)) target++;
    while (out.length <= target) out.push([]);
    out[target]?.push(late);
  }
  return out.filter((b) => b.length > 0);
}
