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
import { buildExactModel, col, type ExactCell } from './exact-model.ts';
import { instanceId, type GroupInfo, type Model } from './model.ts';
import type { GroupPlacement } from './place-group.ts';

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
  /** A limit stopped the solver: nothing proven, and nothing of its answer used (it need not carry one). */
  | { readonly kind: 'limit'; readonly stats: ExactStats }
  | { readonly kind: 'too-large'; readonly cells: number };

export function exactPlan(
  model: Model,
  groups: readonly GroupInfo[],
  previous: ReadonlyMap<string, number>,
  previousIds: ReadonlySet<string>,
  solver: MipSolver,
): ExactOutcome {
  const cells = groups.length * model.devices.length;
  if (cells > EXACT_MAX_CELLS) return { kind: 'too-large', cells };
  const built = buildExactModel(model, groups, previous, previousIds);
  const base = { columns: built.columns, rows: built.rows };
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
  if (result.Status === 'Infeasible') return { kind: 'infeasible', stats };
  if (result.Status !== 'Optimal') return { kind: 'limit', stats };
  const placements = decode(groups, built.cells, result, previous);
  return { kind: 'optimal', placements, moves: built.previousInstances - keptBy(groups, placements, previous), stats };
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
