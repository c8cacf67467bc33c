/** The placement planner: pure, deterministic, sticky, explained. See README.md. */
export { plan, diffOf } from './plan.ts';
export { explain, explainPlan, describeFiltered } from './explain.ts';
export type { MipSolver } from './exact.ts';
export { tierRules, minSmpForTier, MEMORY_MB, type TierRules } from './tier-rules.ts';
export { instanceId } from './model.ts';
export { FILTER_REASONS, type FilterReason, type FilterCounts } from './filters.ts';
export type { Diff, GroupMetrics, Placement, PlanMetrics, PlanOptions, PlanResult, PreviousPlacement, Unmet } from './types.ts';
