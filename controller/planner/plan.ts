/**
 * The planner: all groups, most constrained first. Pure and deterministic: the same spec, previous
 * placement and options give the same result, byte for byte.
 *
 * Attempts, in order (each one starts from an empty load):
 * 1. the groups ordered dedicated first, then by tier, size and id; sticky when a previous placement
 *    is given (instances stay unless their device is not eligible or the tier's caps forbid it);
 * 2. on failure, the groups that failed are promoted to the front and the attempt repeated — this is
 *    what finds placements a greedy order misses (a dedicated group that needs the devices a shared
 *    group would otherwise spread over);
 * 3. each of those first spreading every group over as many devices as it can, then packing compactly
 *    (fewer devices per group leaves whole devices for dedicated groups);
 * 4. if sticky attempts fail, the groups that failed may take devices other groups held (those
 *    groups' instances there move), and failing that, previous devices become a mere preference:
 *    moves are then needed for the fleet to hold, and the diff shows them;
 * 5. with previous devices only a preference and still no placement, a fresh placement.
 * A placement found while holding the previous one then goes through keep-more.ts: instances the
 * attempts moved go back to their devices wherever every rule still holds.
 * Then the exact core (exact.ts, when a solver is given and the fleet is not too large): it proves
 * infeasibility, or the fewest moves against the previous placement; its placement replaces the
 * heuristic's when the heuristic failed or moved more instances than needed.
 * Nothing partial is returned: if every attempt fails the placement is empty and `metrics.unmet`
 * says why, group by group.
 */
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { diagnose } from './diagnose.ts';
import { exactPlan } from './exact.ts';
import { GroupWork } from './group-work.ts';
import { keepMore } from './keep-more.ts';
import { buildModel, emptyLoad, instanceId, previousClaims, type GroupInfo, type Model } from './model.ts';
import { placeGroup, type GroupOutcome, type GroupPlacement } from './place-group.ts';
import type { Packing, StickyMode } from './place-smp.ts';
import { minSmpForTier, TIER_RANK } from './tier-rules.ts';
import type { Diff, GroupMetrics, Placement, PlanMetrics, PlanOptions, PlanResult, PreviousPlacement, Unmet } from './types.ts';

const MAX_PROMOTIONS = 4;
const PACKINGS: readonly Packing[] = ['spread', 'compact'];

interface Failure {
  readonly group: GroupInfo;
  readonly outcome: Extract<GroupOutcome, { ok: false }>;
  readonly placedBefore: readonly string[];
}

/**
 * How an attempt treats the previous placement. hold: instances stay and their devices stay
 * claimed by their groups, except that groups in `waived` may take claimed devices (displacing
 * fewer instances than a full re-plan); prefer: the previous device is only a tie-break.
 */
interface Stance {
  readonly sticky: StickyMode;
  readonly waived: ReadonlySet<number>;
}

/** Rounds of waiving claims for the groups that failed, before holding is given up. */
const WAIVE_ROUNDS = 2;

function relax(stance: Stance, failed: ReadonlySet<number>, round: number): Stance {
  const waived = new Set([...stance.waived, ...failed]);
  if (waived.size > stance.waived.size && round < WAIVE_ROUNDS) return { sticky: 'hold', waived };
  return { sticky: 'prefer', waived: new Set() };
}

type AttemptResult = { ok: true; placements: Map<number, GroupPlacement> } | { ok: false; failures: Failure[] };

export function plan(spec: FleetSpec, previous: readonly PreviousPlacement[] | null, options: PlanOptions = {}): PlanResult {
  const model = buildModel(spec);
  const prevDevice = new Map<string, number>();
  for (const p of previous ?? []) {
    const d = model.deviceIndex.get(p.device);
    if (d !== undefined) prevDevice.set(p.instance, d);
  }
  const tooSmall: Unmet[] = model.groups
    .filter((g) => g.smp < minSmpForTier(g.rules))
    .map((g) => ({ rule: 'instances-for-tier', group: g.id, tier: g.tier, smp: g.smp, needed: minSmpForTier(g.rules) }));
  const order = [...model.groups].filter((g) => g.smp >= minSmpForTier(g.rules)).sort(mostConstrainedFirst);

  const baseMode: StickyMode = previous === null || previous.length === 0 ? 'none' : options.rebalance ? 'prefer' : 'hold';
  const heuristic = tooSmall.length > 0 ? null : searchHeuristic(model, order, prevDevice, baseMode);
  let success = heuristic?.success ?? null;
  // Holding the previous placement: whatever the attempts moved goes back where the rules allow.
  if (success !== null && baseMode === 'hold') success = { ...success, placements: keepMore(model, order, success.placements, prevDevice) };
  const moves = (placements: ReadonlyMap<number, GroupPlacement>) => diffOf(previous ?? [], toPlacements(model, placements)).moved.length;

  // The exact core: proves infeasibility, or the fewest moves, and finds what the heuristic missed.
  let proof: Proof = tooSmall.length > 0 ? { proven: true, minimumMoves: null, solver: null } : { proven: false, minimumMoves: null, solver: null };
  if (tooSmall.length === 0 && options.solver !== undefined) {
    if (success !== null && baseMode === 'none') {
      proof = { proven: true, minimumMoves: 0, solver: null }; // nothing to move, and a placement in hand
    } else {
      const previousIds = new Set((previous ?? []).map((p) => p.instance));
      const inHand = success !== null && baseMode === 'hold' ? success.placements : undefined;
      const exact = exactPlan(model, order, prevDevice, previousIds, options.solver, inHand);
      const solver = exact.kind === 'too-large' ? { status: 'not tried: fleet too large', columns: 0, rows: 0 } : exact.stats;
      if (exact.kind === 'optimal') {
        proof = { proven: true, minimumMoves: exact.moves, solver };
        // The heuristic's answer stands when it is as good (its spread is the one users know);
        // --rebalance asked for moves that improve the spread, so its answer stands too.
        if (success === null || (baseMode === 'hold' && moves(success.placements) > exact.moves)) {
          success = { placements: exact.placements, stance: { sticky: 'none', waived: new Set() }, packing: 'exact' };
        }
      } else if (exact.kind === 'infeasible') {
        proof = { proven: true, minimumMoves: null, solver };
      } else {
        // A limit stopped the solver (or the fleet is too large): nothing is proven, and the
        // heuristic's answer stands unless the solver left a placement that keeps every rule and
        // moves fewer instances (or the heuristic found none).
        proof = { proven: false, minimumMoves: null, solver };
        const found = exact.kind === 'limit' ? exact.found : undefined;
        if (found !== undefined && (success === null || moves(success.placements) > found.moves)) {
          success = { placements: found.placements, stance: { sticky: 'none', waived: new Set() }, packing: 'exact' };
        }
      }
    }
  }
  const mode: PlanMetrics['mode'] =
    baseMode === 'none' ? 'fresh'
    : baseMode === 'prefer' ? 'rebalance'
    : success?.stance.sticky === 'hold' && success.stance.waived.size === 0 ? 'sticky'
    : success !== null && moves(success.placements) === 0 ? 'sticky'
    : 'replanned';

  const unmet = [...tooSmall, ...(success === null ? (heuristic?.firstFailure?.failures ?? []).map((f) => diagnose(model, f.group, f.outcome, f.placedBefore)) : [])];
  const placements = unmet.length === 0 && success !== null ? success.placements : null;
  const feasible = placements !== null;
  const placement = placements === null ? [] : toPlacements(model, placements);
  const diff = feasible ? diffOf(previous ?? [], placement) : { added: [], moved: [], removed: [], kept: [] };
  return {
    feasible,
    placement,
    diff,
    metrics: {
      mode,
      packing: success?.packing ?? null,
      attempts: heuristic?.attempts ?? 0,
      devices: model.devices.length,
      activeDevices: model.devices.filter((d) => d.state === 'active').length,
      instances: model.groups.reduce((n, g) => n + g.smp + g.xftp, 0),
      moves: diff.moved.length,
      minimumMoves: proof.minimumMoves,
      proven: proof.proven,
      solver: proof.solver,
      groups: groupMetrics(model, placements ?? new Map()),
      unmet,
    },
  };
}

interface Proof {
  /** Infeasible: proven when the exact core (or a tier rule alone) rules out every placement. Feasible: proven when the moves are the fewest possible. */
  readonly proven: boolean;
  readonly minimumMoves: number | null;
  readonly solver: PlanMetrics['solver'];
}

interface Success {
  readonly placements: Map<number, GroupPlacement>;
  readonly stance: Stance;
  readonly packing: Packing | 'exact';
}

/**
 * The heuristic attempts of the header comment: stances from holding the previous placement to a
 * fresh one, each with both packings and promotions of the groups that failed.
 */
function searchHeuristic(model: Model, order: readonly GroupInfo[], prevDevice: ReadonlyMap<string, number>, baseMode: StickyMode) {
  let attempts = 0;
  let firstFailure: Extract<AttemptResult, { ok: false }> | null = null;
  let success: Success | null = null;
  const stances: Stance[] = [{ sticky: baseMode, waived: new Set() }];
  for (let s = 0; s < stances.length && success === null; s++) {
    const stance = stances[s] ?? { sticky: baseMode, waived: new Set() };
    const failed = new Set<number>();
    search: for (const packing of PACKINGS) {
      let current = order;
      for (let i = 0; i <= MAX_PROMOTIONS; i++) {
        attempts++;
        const result = attempt(model, current, prevDevice, stance, packing);
        if (result.ok) {
          success = { placements: result.placements, stance, packing };
          break search;
        }
        firstFailure ??= result;
        for (const f of result.failures) failed.add(f.group.index);
        const promoted = promote(current, result.failures);
        if (promoted === null) break;
        current = promoted;
      }
    }
    if (success === null && stance.sticky === 'hold') stances.push(relax(stance, failed, s));
    // A previous placement that only gets in the way: the fresh placement, before "infeasible".
    else if (success === null && stance.sticky === 'prefer') stances.push({ sticky: 'none', waived: new Set() });
  }
  return { success, attempts, firstFailure };
}

function mostConstrainedFirst(a: GroupInfo, b: GroupInfo): number {
  return (
    Number(b.dedicated) - Number(a.dedicated) ||
    TIER_RANK[b.tier] - TIER_RANK[a.tier] ||
    b.smp + b.xftp - (a.smp + a.xftp) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** `order` with the failed groups moved to the front, or null when that changes nothing. */
function promote(order: readonly GroupInfo[], failures: readonly Failure[]): GroupInfo[] | null {
  const failed = new Set(failures.map((f) => f.group.index));
  const promoted = [...order.filter((g) => failed.has(g.index)), ...order.filter((g) => !failed.has(g.index))];
  return promoted.every((g, k) => g === order[k]) ? null : promoted;
}

/** Places every group in `order`; a group that fails is recorded and skipped so all failures are found. */
function attempt(model: Model, order: readonly GroupInfo[], previous: ReadonlyMap<string, number>, stance: Stance, packing: Packing): AttemptResult {
  const { sticky } = stance;
  const claims = sticky === 'hold' ? previousClaims(model, previous, stance.waived) : null;
  const work = new GroupWork(model, emptyLoad(model, claims));
  const placements = new Map<number, GroupPlacement>();
  const failures: Failure[] = [];
  const placedBefore: string[] = [];
  for (const group of order) {
    const outcome = placeGroup({ work, group, previous, sticky, packing });
    if (outcome.ok) {
      work.commit(group);
      placements.set(group.index, outcome.placement);
      placedBefore.push(group.id);
    } else {
      failures.push({ group, outcome, placedBefore: [...placedBefore] });
    }
  }
  return failures.length === 0 ? { ok: true, placements } : { ok: false, failures };
}

function toPlacements(model: Model, placements: ReadonlyMap<number, GroupPlacement>): Placement[] {
  const out: Placement[] = [];
  for (const g of model.groups) {
    const p = placements.get(g.index);
    if (p === undefined) continue;
    const emit = (kind: 'smp' | 'xftp', devices: readonly number[]) => {
      devices.forEach((d, i) => {
        const dev = model.devices[d];
        if (dev === undefined) return;
        out.push({
          group: g.id,
          kind,
          instance: instanceId(g.id, kind, i + 1),
          device: dev.id,
          operator: model.operators[dev.operator] ?? '',
          location: model.locations[dev.location] ?? '',
          jurisdiction: model.jurisdictions[dev.jurisdiction] ?? '',
        });
      });
    };
    emit('smp', p.smp);
    emit('xftp', p.xftp);
  }
  return out;
}

/** added / moved / removed / kept instance ids, each sorted. */
export function diffOf(previous: readonly PreviousPlacement[], next: readonly Placement[]): Diff {
  const before = new Map(previous.map((p) => [p.instance, p.device]));
  const now = new Set<string>();
  const added: string[] = [];
  const moved: string[] = [];
  const kept: string[] = [];
  for (const p of next) {
    now.add(p.instance);
    const was = before.get(p.instance);
    if (was === undefined) added.push(p.instance);
    else if (was === p.device) kept.push(p.instance);
    else moved.push(p.instance);
  }
  const removed = [...before.keys()].filter((id) => !now.has(id));
  const sort = (xs: string[]) => xs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { added: sort(added), moved: sort(moved), removed: sort(removed), kept: sort(kept) };
}

function groupMetrics(model: Model, placements: ReadonlyMap<number, GroupPlacement>): GroupMetrics[] {
  return model.groups.map((g) => {
    const p = placements.get(g.index);
    const smp = (p?.smp ?? []).flatMap((d) => model.devices[d] ?? []);
    const all = [...smp, ...(p?.xftp ?? []).flatMap((d) => model.devices[d] ?? [])];
    return {
      group: g.id,
      tier: g.tier,
      dedicated: g.dedicated,
      placed: p !== undefined,
      devices: new Set(all.map((d) => d.index)).size,
      operators: new Set(smp.map((d) => d.operator)).size,
      locations: new Set(smp.map((d) => d.location)).size,
      jurisdictions: new Set(smp.map((d) => d.jurisdiction)).size,
    };
  });
}
