import type { Tier } from '#shared/schema/fleet-spec.ts';
import type { FilterCounts } from './filters.ts';
import type { Kind } from './group-work.ts';
import type { MipSolver } from './exact.ts';

/** One instance on one device; the element of `plan --json`'s `placements` (docs/reference/fleet-yaml.md). */
export interface Placement {
  readonly group: string;
  readonly kind: Kind;
  readonly instance: string;
  readonly device: string;
  readonly operator: string;
  readonly location: string;
  readonly jurisdiction: string;
}

/** What the planner needs of an earlier plan: where each instance was. */
export interface PreviousPlacement {
  readonly instance: string;
  readonly device: string;
}

export interface PlanOptions {
  /** Permit optional moves that improve spread: stickiness becomes a tie-break, not a rule. */
  readonly rebalance?: boolean;
  /**
   * The MIP solver of the exact core (controller/planner-solver/ loads HiGHS). Without it only the
   * heuristic runs, and neither an infeasible answer nor the number of moves is proven.
   */
  readonly solver?: MipSolver;
}

export interface Diff {
  readonly added: readonly string[];
  readonly moved: readonly string[];
  readonly removed: readonly string[];
  readonly kept: readonly string[];
}

/**
 * Why a group could not be placed: a closed set of rules, each with what the explanation needs.
 * `filtered` counts the devices each feasibility check turned away (the first failing check per device).
 */
export type Unmet =
  | { readonly rule: 'instances-for-tier'; readonly group: string; readonly tier: Tier; readonly smp: number; readonly needed: number }
  | {
      readonly rule: 'operators' | 'locations' | 'jurisdictions';
      readonly group: string;
      readonly tier: Tier;
      readonly needed: number;
      /** The distinct operators (locations, jurisdictions) that have eligible devices. */
      readonly eligible: readonly string[];
      readonly filtered: FilterCounts;
    }
  | { readonly rule: 'diversity'; readonly group: string; readonly tier: Tier; readonly operators: number; readonly locations: number; readonly jurisdictions: number; readonly filtered: FilterCounts }
  | {
      readonly rule: 'capacity';
      readonly group: string;
      readonly tier: Tier;
      readonly kind: Kind;
      readonly needed: number;
      /** How many of the kind eligible devices can hold within the tier's caps. */
      readonly available: number;
      readonly maxPerOperator: number;
      readonly maxPerDevice: number;
      readonly filtered: FilterCounts;
    }
  | { readonly rule: 'xftp-apart'; readonly group: string; readonly tier: Tier; readonly filtered: FilterCounts }
  | {
      readonly rule: 'shared-capacity';
      readonly group: string;
      readonly tier: Tier;
      readonly kind: Kind;
      readonly needed: number;
      /** Room left for the kind after the groups placed before it. */
      readonly available: number;
      readonly placedBefore: readonly string[];
      readonly filtered: FilterCounts;
    };

export interface GroupMetrics {
  readonly group: string;
  readonly tier: Tier;
  readonly dedicated: boolean;
  readonly placed: boolean;
  readonly devices: number;
  readonly operators: number;
  readonly locations: number;
  readonly jurisdictions: number;
}

export interface PlanMetrics {
  /** sticky: previous placement held; rebalance: asked for; replanned: sticky failed, moves were needed; fresh: no previous. */
  readonly mode: 'fresh' | 'sticky' | 'rebalance' | 'replanned';
  /** How the successful attempt packed groups onto devices (exact: found by exhaustive search); null when infeasible. */
  readonly packing: 'spread' | 'compact' | 'exact' | null;
  readonly attempts: number;
  readonly devices: number;
  readonly activeDevices: number;
  readonly instances: number;
  /** Instances that change device (each gets a new address). */
  readonly moves: number;
  /** The fewest moves any valid placement needs, when the exact core proved it; null otherwise. */
  readonly minimumMoves: number | null;
  /**
   * Feasible: the exact core proved `moves` the fewest possible (a fresh plan moves nothing).
   * Infeasible: the exact core (or a tier rule on its own) proved that no placement exists;
   * false means only the heuristic looked.
   */
  readonly proven: boolean;
  /** What the exact core's solver did (null when it was not needed or not given). */
  readonly solver: { readonly status: string; readonly columns: number; readonly rows: number } | null;
  readonly groups: readonly GroupMetrics[];
  readonly unmet: readonly Unmet[];
}

export interface PlanResult {
  readonly feasible: boolean;
  /** Empty when infeasible: nothing partial is ever returned. */
  readonly placement: readonly Placement[];
  readonly diff: Diff;
  readonly metrics: PlanMetrics;
}
