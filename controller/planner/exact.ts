/**
 * The exact core: the placement problem of exact-model.ts solved by a MIP solver (HiGHS). It
 * proves a fleet infeasible, or finds a placement with the fewest moves against the previous one
 * (and, among those, the spread the heuristic prefers).
 *
 * The solver is passed in (`MipSolver`): loading its WebAssembly is the shell's business
 * (controller/planner-solver/), solving is a deterministic function of the model and the options
 * below — single-threaded, with a node limit rather than only a clock. The time limit is a
 * backstop for pathological models; hitting either limit gives an unproven answer, never a wrong one.
 */
import { buildExactModel, col, previousCounts, type ExactCell } from './exact-model.ts';
import { instanceId, type GroupInfo, type Model } from './model.ts';
import type { GroupPlacement } from './place-group.ts';
import { keepsEveryRule } from './placement-rules.ts';

/** What the planner needs of a MIP solver: highs-js's `solve` fits it. */
export interface MipSolver {
  solve(lp: string, options: Readonly<Record<string, string | number | boolean>>): MipSolution;
}

export interface MipSolution {
  readonly Status: string;
  readonly ObjectiveValue: number;
  readonly Columns: Readonly<Record<string, { readonly Primal?: number } | undefined>>;
}

/** Beyond this many (group, device) cells the exact core is not tried: the heuristic answers alone. */
export const EXACT_MAX_CELLS = 40_000;
export const EXACT_NODE_LIMIT = 50_000;
export const EXACT_TIME_LIMIT_S = 10;

export interface ExactStats {
  readonly columns: number;
  readonly rows: number;
  readonly status: string;
}

export type ExactOutcome =
  | { readonly kind: 'optimal'; readonly placements: Map<number, GroupPlacement>; readonly moves: number; readonly stats: ExactStats }
  | { readonly kind: 'infeasible'; readonly stats: ExactStats }
  /**
   * A limit stopped the solver: nothing proven. It need not carry a solution: `found` is its answer
   * only when that keeps every rule (placement-rules.ts), and better than the one in hand.
   */
  | { readonly kind: 'limit'; readonly stats: ExactStats; readonly found?: { readonly placements: Map<number, GroupPlacement>; readonly moves: number } }
  | { readonly kind: 'too-large'; readonly cells: number };

/**
 * `inHand`, the heuristic's placement when it found one: the solver is then asked only for a
 * placement that keeps more instances, so "infeasible" proves the one in hand has the fewest moves
 * (its instance ids re-decoded so that none moves that need not). When it already keeps every
 * instance a placement could keep, that is proof enough and nothing is solved.
 */
export function exactPlan(
  model: Model,
  groups: readonly GroupInfo[],
  previous: ReadonlyMap<string, number>,
  previousIds: ReadonlySet<string>,
  solver: MipSolver,
  inHand?: ReadonlyMap<number, GroupPlacement>,
): ExactOutcome {
  const cells = groups.length * model.devices.length;
  if (cells > EXACT_MAX_CELLS) return { kind: 'too-large', cells };
  const keptInHand = inHand === undefined ? undefined : keptCounts(groups, inHand, previous);
  const built = buildExactModel(model, groups, previous, previousIds, keptInHand === undefined ? undefined : keptInHand + 1);
  const base = { columns: built.columns, rows: built.rows };
  const inHandIsBest = (status: string): ExactOutcome => ({
    kind: 'optimal',
    placements: redecode(groups, inHand ?? new Map(), previous),
    moves: built.previousInstances - (keptInHand ?? 0),
    stats: { ...base, status },
  });
  if (keptInHand !== undefined && keptInHand >= built.keepable) return inHandIsBest('Bound: every keepable instance kept');
  if (built.impossible) return { kind: 'infeasible', stats: { ...base, status: 'Infeasible' } };
  if (groups.length === 0) return { kind: 'optimal', placements: new Map(), moves: 0, stats: { ...base, status: 'Empty' } };
  const result = solver.solve(built.lp, {
    output_flag: false,
    mip_rel_gap: 0,
    mip_abs_gap: built.movesGap,
    mip_max_nodes: EXACT_NODE_LIMIT,
    time_limit: EXACT_TIME_LIMIT_S,
    random_seed: 0,
  });
  const stats = { ...base, status: result.Status };
  // With a placement in hand the model is feasible: "infeasible" only says nothing keeps more.
  if (result.Status === 'Infeasible') return keptInHand === undefined ? { kind: 'infeasible', stats } : inHandIsBest('Optimal: nothing keeps more than the heuristic');
  const placements = decode(groups, built.cells, result, previous);
  const moves = built.previousInstances - keptBy(groups, placements, previous);
  if (result.Status === 'Optimal') return { kind: 'optimal', placements, moves, stats };
  const better = keptInHand === undefined || moves < built.previousInstances - keptInHand;
  return better && keepsEveryRule(model, groups, placements) ? { kind: 'limit', stats, found: { placements, moves } } : { kind: 'limit', stats };
}

/** Instances a placement keeps, counted per (group, kind, device): what the best choice of ids keeps. */
function keptCounts(groups: readonly GroupInfo[], placements: ReadonlyMap<number, GroupPlacement>, previous: ReadonlyMap<string, number>): number {
  let kept = 0;
  for (const g of groups) {
    const p = placements.get(g.index);
    if (p === undefined) continue;
    for (const [kind, devices] of [['smp', p.smp], ['xftp', p.xftp]] as const) {
      const now = countsOf(devices);
      for (const [d, before] of previousCounts(g, kind, previous)) kept += Math.min(before, now.get(d) ?? 0);
    }
  }
  return kept;
}

function countsOf(devices: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const d of devices) counts.set(d, (counts.get(d) ?? 0) + 1);
  return counts;
}

/** The same devices, with each instance id on the device it had whenever the counts allow. */
function redecode(groups: readonly GroupInfo[], placements: ReadonlyMap<number, GroupPlacement>, previous: ReadonlyMap<string, number>): Map<number, GroupPlacement> {
  const out = new Map<number, GroupPlacement>();
  for (const g of groups) {
    const p = placements.get(g.index);
    if (p === undefined) continue;
    out.set(g.index, { smp: ordinals(g, 'smp', g.smp, countsOf(p.smp), previous), xftp: ordinals(g, 'xftp', g.xftp, countsOf(p.xftp), previous) });
  }
  return out;
}

/** Counts per device → one device per ordinal: an instance stays where it was whenever the counts allow. */
function decode(groups: readonly GroupInfo[], cells: readonly ExactCell[], result: MipSolution, previous: ReadonlyMap<string, number>): Map<number, GroupPlacement> {
  const value = (name: string) => Math.round(result.Columns[name]?.Primal ?? 0);
  const out = new Map<number, GroupPlacement>();
  for (const g of groups) {
    const own = cells.filter((c) => c.group === g.index);
    const smp = new Map(own.map((c) => [c.device, c.smpMax > 0 ? value(col.smp(c)) : 0]));
    const xftp = new Map(own.map((c) => [c.device, g.xftp > 0 && c.xftpMax > 0 ? value(col.xftp(c)) : 0]));
    out.set(g.index, { smp: ordinals(g, 'smp', g.smp, smp, previous), xftp: ordinals(g, 'xftp', g.xftp, xftp, previous) });
  }
  return out;
}

function ordinals(g: GroupInfo, kind: 'smp' | 'xftp', n: number, counts: Map<number, number>, previous: ReadonlyMap<string, number>): number[] {
  const left = new Map(counts);
  const at: (number | undefined)[] = new Array<number | undefined>(n).fill(undefined);
  for (let i = 0; i < n; i++) {
    const d = previous.get(instanceId(g.id, kind, i + 1));
    if (d !== undefined && (left.get(d) ?? 0) > 0) {
      at[i] = d;
      left.set(d, (left.get(d) ?? 0) - 1);
    }
  }
  const rest = [...left.entries()].sort((a, b) => a[0] - b[0]).flatMap(([d, k]) => new Array<number>(Math.max(0, k)).fill(d));
  return at.map((d) => d ?? rest.shift() ?? -1);
}

function keptBy(groups: readonly GroupInfo[], placements: ReadonlyMap<number, GroupPlacement>, previous: ReadonlyMap<string, number>): number {
  let kept = 0;
  for (const g of groups) {
    const p = placements.get(g.index);
    if (p === undefined) continue;
    p.smp.forEach((d, i) => (kept += previous.get(instanceId(g.id, 'smp', i + 1)) === d ? 1 : 0));
    p.xftp.forEach((d, i) => (kept += previous.get(instanceId(g.id, 'xftp', i + 1)) === d ? 1 : 0));
  }
  return kept;
}
