/**
 * The planner is exact on small fleets: it finds a placement whenever brute force does, proves
 * infeasibility when brute force finds none, and moves exactly as few instances as brute force
 * finds necessary against a previous placement. Brute force enumerates how many of each group's
 * SMP and XFTP go on each device (instances of one kind are interchangeable), checks each candidate
 * with the independent rule checker, and counts the moves of the best assignment of ids.
 */
import { fc, test } from '@fast-check/vitest';
import { beforeAll, describe, expect } from 'vitest';
import type { MipSolver, PreviousPlacement } from '../../../controller/planner/index.ts';
import { loadSolver } from '../../../controller/solver/highs.ts';
import { runs } from '../../support/runs.ts';
import { plan, type Placement } from '../../../controller/planner/index.ts';
import { TIERS, type FleetSpec } from '#shared/schema/fleet-spec.ts';
import { fleet, type DeviceInput } from '../../builders/fleet.ts';
import { violations } from './rules.ts';

/** Every way to put `k` identical items into `bins` bins. */
function* compositions(k: number, bins: number): Generator<number[]> {
  if (bins === 1) {
    yield [k];
    return;
  }
  for (let first = k; first >= 0; first--) for (const rest of compositions(k - first, bins - 1)) yield [first, ...rest];
}

/** The fewest moves of any valid placement against `previous` (null: no valid placement). */
function bruteForceMinMoves(spec: FleetSpec, previous: readonly PreviousPlacement[]): number | null {
  const devices = spec.devices;
  const before = new Map(previous.map((p) => [p.instance, p.device]));
  const slots = spec.groups.flatMap((g) => [
    { group: g.id, kind: 'smp' as const, count: g.smp },
    { group: g.id, kind: 'xftp' as const, count: g.xftp },
  ]);
  let best: number | null = null;
  const search = (i: number, acc: Placement[], moves: number): void => {
    if (best !== null && moves >= best) return;
    const slot = slots[i];
    if (slot === undefined) {
      if (violations(spec, acc).length === 0) best = moves;
      return;
    }
    const ids = Array.from({ length: slot.count }, (_, k) => `${slot.group}-${slot.kind}-${String(k + 1).padStart(2, '0')}`);
    for (const counts of compositions(slot.count, devices.length)) {
      // Ids stay where they were as far as the counts allow; the rest take the free places.
      const left = [...counts];
      const at: (number | undefined)[] = ids.map((id) => {
        const d = devices.findIndex((x) => x.id === before.get(id));
        if (d >= 0 && (left[d] ?? 0) > 0) {
          left[d] = (left[d] ?? 0) - 1;
          return d;
        }
        return undefined;
      });
      const free = left.flatMap((c, d) => Array<number>(c).fill(d));
      const next = [...acc];
      let moved = 0;
      ids.forEach((id, k) => {
        const d = at[k] ?? free.shift() ?? 0;
        const dev = devices[d]!;
        if (before.has(id) && before.get(id) !== dev.id) moved++;
        next.push({ group: slot.group, kind: slot.kind, instance: id, device: dev.id, operator: dev.operator, location: dev.location, jurisdiction: dev.jurisdiction });
      });
      search(i + 1, next, moves + moved);
    }
  };
  search(0, [], 0);
  return best;
}

const smallFleet = fc
  .record({
    devices: fc.array(
      fc.record({
        operator: fc.constantFrom('a', 'b', 'c'),
        location: fc.constantFrom('x', 'y', 'z'),
        jurisdiction: fc.constantFrom('DE', 'NL', 'AT'),
        maxInstances: fc.integer({ min: 1, max: 6 }),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    groups: fc.array(
      fc.record({ tier: fc.constantFrom(...TIERS), smp: fc.integer({ min: 1, max: 4 }), xftp: fc.integer({ min: 0, max: 1 }), dedicated: fc.boolean() }),
      { minLength: 1, maxLength: 2 },
    ),
  })
  .map(({ devices, groups }) =>
    fleet(
      devices.map((d, i): DeviceInput => ({ id: `pi-${i}`, ...d })),
      groups.map((g, i) => ({ id: `g${i}`, ...g })),
    ),
  );

/** A previous placement to move from: every instance of the groups (and of one the spec no longer has) on some device, valid or not. */
const withPrevious = smallFleet.chain((spec) => {
  const ids = [...spec.groups.flatMap((g) => [
    ...Array.from({ length: g.smp + 1 }, (_, k) => `${g.id}-smp-${String(k + 1).padStart(2, '0')}`),
    ...Array.from({ length: g.xftp }, (_, k) => `${g.id}-xftp-${String(k + 1).padStart(2, '0')}`),
  ])];
  const places = [...spec.devices.map((d) => d.id), 'pi-gone'];
  return fc.tuple(fc.constant(spec), fc.tuple(...ids.map(() => fc.constantFrom(...places))).map((ds) => ids.map((instance, k) => ({ instance, device: ds[k]! }))));
});

describe('planner completeness on small fleets', () => {
  let solver: MipSolver;
  beforeAll(async () => {
    solver = await loadSolver();
  });

  test.prop([smallFleet], { numRuns: runs(400) })('finds a placement whenever one exists, and proves it when none does', (spec) => {
    const result = plan(spec, null, { solver });
    const exists = bruteForceMinMoves(spec, []) !== null;
    expect(result.feasible).toBe(exists);
    expect(result.metrics.proven).toBe(true);
    if (result.feasible) expect(violations(spec, result.placement)).toEqual([]);
  });

  test.prop([withPrevious], { numRuns: runs(300) })('moves exactly as few instances as necessary', ([spec, previous]) => {
    const result = plan(spec, previous, { solver });
    const fewest = bruteForceMinMoves(spec, previous);
    expect(result.feasible).toBe(fewest !== null);
    expect(result.metrics.proven).toBe(true);
    if (fewest === null) return;
    expect(violations(spec, result.placement)).toEqual([]);
    expect(result.diff.moved.length).toBe(fewest);
    expect(result.metrics.minimumMoves).toBe(fewest);
  });
});
