/**
 * Property tests (fast-check): placement invariants, stickiness, minimal churn, determinism.
 * Fleets are generated with up to 5 operators, 20 devices and 4 groups of any tier.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { runs } from '../../support/runs.ts';
import { plan } from '../../../controller/planner/index.ts';
import { TIERS, type FleetSpec } from '#shared/schema/fleet-spec.ts';
import { fleet, type DeviceInput, type GroupInput } from '../../builders/fleet.ts';
import { violations } from './rules.ts';

const JURISDICTIONS = ['DE', 'NL', 'AT', 'CH', 'IS'] as const;

const deviceArb = (operator: string, i: number) =>
  fc.record({
    location: fc.integer({ min: 0, max: 3 }),
    jurisdiction: fc.constantFrom(...JURISDICTIONS),
    maxInstances: fc.integer({ min: 2, max: 16 }),
    memoryMb: fc.constantFrom(512, 1024, 2048, 4096),
    state: fc.constantFrom('active', 'active', 'active', 'active', 'draining', 'revoked'),
  }).map((d): DeviceInput => ({ id: `${operator}-pi-${i}`, operator, ...d, location: `${operator}-loc-${d.location}`, state: d.state }));

const devicesArb = fc
  .array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 5 })
  .chain((counts) => fc.tuple(...counts.flatMap((count, o) => Array.from({ length: count }, (_, i) => deviceArb(`op${o}`, i)))));

const groupsArb = fc.array(
  fc.record({
    tier: fc.constantFrom(...TIERS),
    smp: fc.integer({ min: 1, max: 12 }),
    xftp: fc.integer({ min: 0, max: 2 }),
    dedicated: fc.boolean(),
  }),
  { minLength: 1, maxLength: 4 },
).map((gs) => gs.map((g, i): GroupInput => ({ id: `g${i}`, ...g })));

const fleetArb = fc.tuple(devicesArb, groupsArb).map(([devices, groups]) => fleet(devices, groups));

/**
 * Fleets where the rest can always take a lost device's instances without moving others:
 * shared groups on roomy devices, or one tiered group whose every operator has three devices in every
 * jurisdiction (whatever the lost device gave the spread, another device of its operator gives too,
 * even when the group's XFTP holds a third).
 */
const roomySharedArb = fc.tuple(devicesArb, groupsArb).map(([devices, groups]) =>
  fleet(
    [...devices.map((d) => ({ ...d, state: 'active' as const, maxInstances: 64, memoryMb: 8192 })), { id: 'spare', operator: 'spare', maxInstances: 64, memoryMb: 8192 }],
    groups.map((g) => ({ ...g, tier: g.tier === 'high' || g.tier === 'extreme' ? ('elevated' as const) : g.tier, smp: Math.min(g.smp ?? 1, 6), dedicated: false })),
  ),
);
const richTieredArb = fc
  .record({
    operators: fc.integer({ min: 3, max: 4 }),
    jurisdictions: fc.integer({ min: 3, max: 4 }),
    tier: fc.constantFrom('high' as const, 'extreme' as const),
    smp: fc.integer({ min: 3, max: 16 }),
    xftp: fc.integer({ min: 0, max: 2 }),
  })
  .map(({ operators, jurisdictions, tier, smp, xftp }) =>
    fleet(
      Array.from({ length: operators }, (_, o) =>
        Array.from({ length: jurisdictions * 3 }, (_, k): DeviceInput => ({
          id: `op${o}-pi-${k}`,
          operator: `op${o}`,
          location: `op${o}-loc-${k}`,
          jurisdiction: JURISDICTIONS[Math.floor(k / 3)] ?? 'DE',
        })),
      ).flat(),
      // Two devices more than the group spreads over, so the lost one's instances have somewhere to go.
      [{ id: 'g', tier, smp: Math.min(smp, 3 * operators * jurisdictions - xftp - 2), xftp }],
    ),
  );

const withoutDevice = (spec: FleetSpec, id: string): FleetSpec => ({ ...spec, devices: spec.devices.filter((d) => d.id !== id) });

describe('planner properties', () => {
  test.prop([fleetArb], { numRuns: runs(300) })('every feasible plan satisfies every tier rule and capacity', (spec) => {
    const result = plan(spec, null);
    if (!result.feasible) {
      expect(result.placement).toEqual([]);
      expect(result.metrics.unmet.length).toBeGreaterThan(0);
      return;
    }
    expect(violations(spec, result.placement)).toEqual([]);
  });

  test.prop([fleetArb], { numRuns: runs(200) })('re-planning an unchanged spec with its own plan changes nothing', (spec) => {
    const first = plan(spec, null);
    fc.pre(first.feasible);
    const again = plan(spec, first.placement);
    expect(again.placement).toEqual(first.placement);
    expect(again.diff.moved).toEqual([]);
    expect(again.diff.added).toEqual([]);
  });

  test.prop([fc.oneof(roomySharedArb, richTieredArb), fc.nat()], { numRuns: runs(300) })('losing one device moves only its instances when the rest can take them', (spec, pick) => {
    const first = plan(spec, null);
    fc.pre(first.feasible);
    const used = [...new Set(first.placement.map((p) => p.device))];
    const lost = used[pick % used.length] ?? '';
    const after = plan(withoutDevice(spec, lost), first.placement);
    fc.pre(after.feasible);
    const onLost = first.placement.filter((p) => p.device === lost).map((p) => p.instance).sort();
    expect(after.diff.moved).toEqual(onLost);
    expect(violations(withoutDevice(spec, lost), after.placement)).toEqual([]);
  });

  test.prop([fleetArb, fc.boolean()], { numRuns: runs(150) })('is deterministic: same input, same bytes, whatever the device order', (spec, reverse) => {
    const a = JSON.stringify(plan(spec, null));
    const shuffled = { ...spec, devices: reverse ? [...spec.devices].reverse() : spec.devices };
    expect(JSON.stringify(plan(shuffled, null))).toBe(a);
  });
});
