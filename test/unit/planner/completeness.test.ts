/**
 * The planner is not greedy: on small fleets it finds a placement whenever brute force does.
 * Brute force enumerates how many of each group's SMP and XFTP go on each device (instances of one
 * kind are interchangeable) and checks each candidate with the independent rule checker.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
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

function bruteForceFeasible(spec: FleetSpec): boolean {
  const devices = spec.devices;
  const slots = spec.groups.flatMap((g) => [
    { group: g.id, kind: 'smp' as const, count: g.smp },
    { group: g.id, kind: 'xftp' as const, count: g.xftp },
  ]);
  const search = (i: number, acc: Placement[]): boolean => {
    const slot = slots[i];
    if (slot === undefined) return violations(spec, acc).length === 0;
    for (const counts of compositions(slot.count, devices.length)) {
      const next = [...acc];
      let ordinal = 0;
      counts.forEach((c, d) => {
        const dev = devices[d]!;
        for (let j = 0; j < c; j++) {
          ordinal++;
          next.push({ group: slot.group, kind: slot.kind, instance: `${slot.group}-${slot.kind}-${String(ordinal).padStart(2, '0')}`, device: dev.id, operator: dev.operator, location: dev.location, jurisdiction: dev.jurisdiction });
        }
      });
      if (search(i + 1, next)) return true;
    }
    return false;
  };
  return search(0, []);
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

describe('planner completeness on small fleets', () => {
  test.prop([smallFleet], { numRuns: runs(400) })('finds a placement whenever one exists', (spec) => {
    expect(plan(spec, null).feasible).toBe(bruteForceFeasible(spec));
  });
});
