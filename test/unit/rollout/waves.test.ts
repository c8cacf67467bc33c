/**
 * The rollout planner: canary first, at most `maxUnavailable` devices of a group per wave, every
 * changed device exactly once, the same waves for the same input — pinned by examples and by
 * properties over random fleets (no wave takes a group below its minimum of serving instances).
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { TIERS, type Tier } from '#shared/schema/fleet-spec.ts';
import { TIER_ROLLOUT } from '../../../controller/rollout/defaults.ts';
import { planWaves, type RolloutDevice, type RolloutGroup, type WaveOptions } from '../../../controller/rollout/waves.ts';
import { runs } from '../../support/runs.ts';

const ROLLING: WaveOptions = { strategy: 'rolling', canary: null, maxUnavailable: null, soakSeconds: null };

/** 6 Pis of 3 operators: a high group on four of them, a standard group on three. */
const SIX: RolloutDevice[] = [
  { id: 'pi-1', serves: { press: 3 } },
  { id: 'pi-2', serves: { press: 3, fam: 2 } },
  { id: 'pi-3', serves: { press: 2 } },
  { id: 'pi-4', serves: { press: 2, fam: 2 } },
  { id: 'pi-5', serves: { fam: 1 } },
  { id: 'pi-6', serves: {} },
];
const GROUPS: RolloutGroup[] = [{ id: 'press', tier: 'high', serving: 10 }, { id: 'fam', tier: 'standard', serving: 5 }];

describe('planWaves', () => {
  it('puts the cheapest device first as a canary, then one device per group per wave', () => {
    const plan = planWaves(SIX, GROUPS, ROLLING);
    expect(plan.waves[0]).toMatchObject({ canary: true, devices: ['pi-5', 'pi-6'] }); // standard tier, 1 instance; pi-6 serves nothing
    for (const wave of plan.waves.slice(1)) {
      expect(wave.canary).toBe(false);
      for (const g of ['press', 'fam']) expect(wave.devices.filter((d) => (SIX.find((x) => x.id === d)?.serves[g] ?? 0) > 0).length).toBeLessThanOrEqual(1);
    }
    expect(plan.waves.flatMap((w) => w.devices).sort()).toEqual(SIX.map((d) => d.id));
    expect(plan.groups.press).toEqual({ tier: 'high', serving: 10, maxUnavailable: 1, minimumHealthy: 7 });
    expect(plan.groups.fam).toEqual({ tier: 'standard', serving: 5, maxUnavailable: 1, minimumHealthy: 3 });
    expect(plan.waves[1]?.soakSeconds).toBe(TIER_ROLLOUT.high.soakSeconds);
    expect(plan.waves[0]?.soakSeconds).toBe(TIER_ROLLOUT.standard.soakSeconds);
  });

  it('all-at-once is one wave, and warns when a group would have nothing left serving', () => {
    const plan = planWaves(SIX, GROUPS, { ...ROLLING, strategy: 'all-at-once' });
    expect(plan.waves).toHaveLength(1);
    expect(plan.groups.press?.minimumHealthy).toBe(0);
    expect(plan.warnings.join('\n')).toMatch(/group press \(high\) has no serving instance left/);
  });

  it('a first deployment (nothing serving yet) is a single wave without a canary', () => {
    const plan = planWaves(SIX.map((d) => ({ id: d.id, serves: {} })), GROUPS.map((g) => ({ ...g, serving: 0 })), ROLLING);
    expect(plan.waves).toEqual([{ devices: SIX.map((d) => d.id), canary: false, soakSeconds: 0, groups: [] }]);
  });

  it('honours --canary, --max-unavailable and --soak', () => {
    const plan = planWaves(SIX, GROUPS, { strategy: 'rolling', canary: 2, maxUnavailable: 2, soakSeconds: 3 });
    expect(plan.waves[0]?.devices.filter((d) => d !== 'pi-6')).toHaveLength(2);
    expect(plan.waves.every((w) => w.soakSeconds === 3)).toBe(true);
    expect(plan.groups.press?.maxUnavailable).toBe(2);
    const none = planWaves(SIX, GROUPS, { ...ROLLING, canary: 0 });
    expect(none.waves.some((w) => w.canary)).toBe(false);
  });

  it('warns about a group that lives on one device: it is down while that device changes', () => {
    const plan = planWaves([{ id: 'pi-1', serves: { solo: 4 } }, { id: 'pi-2', serves: { other: 1 } }], [{ id: 'solo', tier: 'standard', serving: 4 }, { id: 'other', tier: 'standard', serving: 2 }], ROLLING);
    expect(plan.groups.solo?.minimumHealthy).toBe(0);
    expect(plan.warnings).toHaveLength(1);
  });
});

const fleetArb = fc.integer({ min: 1, max: 5 }).chain((groupCount) => fc.record({
  groups: fc.array(fc.constantFrom<Tier>(...TIERS), { minLength: groupCount, maxLength: groupCount }),
  devices: fc.array(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: groupCount, maxLength: groupCount }), { minLength: 1, maxLength: 30 }),
  changedMask: fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }),
  canary: fc.option(fc.integer({ min: 0, max: 4 })),
  maxUnavailable: fc.option(fc.integer({ min: 1, max: 3 })),
}));

describe('planWaves properties', () => {
  test.prop([fleetArb], { numRuns: runs(400) })('every changed device once; no wave takes a group below its minimum; deterministic', (f) => {
    const groups: RolloutGroup[] = f.groups.map((tier, g) => ({ id: `g${g}`, tier, serving: f.devices.reduce((n, d) => n + (d[g] ?? 0), 0) }));
    const all: RolloutDevice[] = f.devices.map((counts, i) => ({ id: `pi-${String(i).padStart(2, '0')}`, serves: Object.fromEntries(counts.map((c, g) => [`g${g}`, c])) }));
    const changed = all.filter((_, i) => f.changedMask[i] === true);
    const options: WaveOptions = { strategy: 'rolling', canary: f.canary, maxUnavailable: f.maxUnavailable, soakSeconds: null };
    const plan = planWaves(changed, groups, options);
    expect(plan.waves.flatMap((w) => w.devices).sort()).toEqual(changed.map((d) => d.id).sort());
    expect(planWaves(changed, groups, options)).toEqual(plan);
    for (const g of groups) {
      const limit = f.maxUnavailable ?? 1;
      const shares = changed.map((d) => d.serves[g.id] ?? 0).filter((n) => n > 0).sort((a, b) => b - a);
      // The floor the tier promises: all but the `limit` largest shares of the changing devices stay up.
      const floor = g.serving - shares.slice(0, limit).reduce((a, b) => a + b, 0);
      for (const wave of plan.waves) {
        const holders = wave.devices.filter((id) => (changed.find((d) => d.id === id)?.serves[g.id] ?? 0) > 0);
        expect(holders.length).toBeLessThanOrEqual(limit);
        const down = wave.devices.reduce((n, id) => n + (changed.find((d) => d.id === id)?.serves[g.id] ?? 0), 0);
        expect(g.serving - down).toBeGreaterThanOrEqual(floor);
        if (shares.length > 0) expect(g.serving - down).toBeGreaterThanOrEqual(plan.groups[g.id]?.minimumHealthy ?? Infinity);
      }
    }
    const canaries = plan.waves.filter((w) => w.canary);
    expect(canaries.length).toBeLessThanOrEqual(1);
    if (canaries.length === 1) expect(plan.waves[0]?.canary).toBe(true);
  });
});

describe('planWaves: hand-overs (an instance moving with its identity)', () => {
  const waveOf = (plan: ReturnType<typeof planWaves>, id: string) => plan.waves.findIndex((w) => w.devices.includes(id));

  it('changes the device an instance leaves in an earlier wave than the one it joins, even a device that serves nothing yet', () => {
    // pi-6 serves nothing (it would go first) but receives press's instance from pi-1.
    const moved = SIX.map((d) => (d.id === 'pi-6' ? { ...d, after: ['pi-1'] } : d));
    const plan = planWaves(moved, GROUPS, ROLLING);
    expect(waveOf(plan, 'pi-6')).toBeGreaterThan(waveOf(plan, 'pi-1'));
    expect(plan.waves.flatMap((w) => w.devices).sort()).toEqual(SIX.map((d) => d.id));
    for (const wave of plan.waves) {
      for (const g of ['press', 'fam']) expect(wave.devices.filter((d) => (SIX.find((x) => x.id === d)?.serves[g] ?? 0) > 0).length).toBeLessThanOrEqual(1);
    }
  });

  it('splits all-at-once into the leaving devices, then the receiving ones', () => {
    const moved = SIX.map((d) => (d.id === 'pi-6' ? { ...d, after: ['pi-1', 'pi-2'] } : d));
    const plan = planWaves(moved, GROUPS, { ...ROLLING, strategy: 'all-at-once' });
    expect(plan.waves.map((w) => w.devices)).toEqual([['pi-1', 'pi-2', 'pi-3', 'pi-4', 'pi-5'], ['pi-6']]);
  });

  it('leaves a swap (each device receives from the other) as planned: no order serves both', () => {
    const swap = SIX.map((d) => (d.id === 'pi-1' ? { ...d, after: ['pi-3'] } : d.id === 'pi-3' ? { ...d, after: ['pi-1'] } : d));
    expect(planWaves(swap, GROUPS, ROLLING).waves).toEqual(planWaves(SIX, GROUPS, ROLLING).waves);
  });
});
