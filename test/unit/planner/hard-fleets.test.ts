/**
 * Seeded fleets near their limits (test/builders/hard-fleet.ts), each planned fresh and re-planned
 * after its fullest device is drained and after it is removed: no placement the exact core finds
 * is missed, no re-plan moves more instances than the proven minimum, no rule is broken (the
 * independent checker of rules.ts), and the heuristic alone never beats the exact core (which would
 * mean the model forbids something the rules allow).
 *
 * CI runs a fixed set of 40 seeds on 6–20 devices; HARD_FLEET_SEEDS=200 runs more, on 6–40 devices.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { plan, type MipSolver, type PlanResult } from '../../../controller/planner/index.ts';
import { loadSolver } from '../../../controller/solver/highs.ts';
import { hardFleet } from '../../builders/hard-fleet.ts';
import { violations } from './rules.ts';

const SEEDS = Number(process.env.HARD_FLEET_SEEDS ?? '40');
const sizeOf = (seed: number) => (SEEDS > 40 ? 6 + ((seed * 7) % 35) : 6 + ((seed * 5) % 15));

/** The solver without its clock: only the node limit stops it, so the answers do not depend on the machine's load. */
function unclocked(solver: MipSolver): MipSolver {
  return { solve: (lp, options) => solver.solve(lp, { ...options, time_limit: 1e9 }) };
}

function fullestDevice(result: PlanResult): string {
  const counts = new Map<string, number>();
  for (const p of result.placement) counts.set(p.device, (counts.get(p.device) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? '';
}

describe('hard fleets against the exact core', () => {
  let solver: MipSolver;
  beforeAll(async () => {
    solver = unclocked(await loadSolver());
  });

  const check = (spec: FleetSpec, previous: PlanResult | null) => {
    const exact = plan(spec, previous?.placement ?? null, { solver });
    const heuristic = plan(spec, previous?.placement ?? null);
    expect(exact.metrics.proven, 'the exact core answers within its node limit').toBe(true);
    if (heuristic.feasible) expect(exact.feasible, 'the exact core finds what the heuristic finds').toBe(true);
    if (!exact.feasible) return { exact, heuristic };
    expect(violations(spec, exact.placement)).toEqual([]);
    expect(exact.metrics.moves).toBe(exact.metrics.minimumMoves);
    if (heuristic.feasible) expect(heuristic.metrics.moves).toBeGreaterThanOrEqual(exact.metrics.moves);
    return { exact, heuristic };
  };

  it.each(Array.from({ length: SEEDS }, (_, i) => i + 1))('seed %i: fresh, drained, removed', (seed) => {
    const spec = hardFleet(seed, sizeOf(seed));
    const { exact: fresh } = check(spec, null);
    if (!fresh.feasible) return;
    const victim = fullestDevice(fresh);
    check({ ...spec, devices: spec.devices.map((d) => (d.id === victim ? { ...d, state: 'draining' as const } : d)) }, fresh);
    check({ ...spec, devices: spec.devices.filter((d) => d.id !== victim) }, fresh);
  }, 120_000);
});
