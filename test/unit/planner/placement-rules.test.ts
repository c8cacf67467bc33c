/**
 * The planner's own rule check (controller/planner/placement-rules.ts), used on answers a solver
 * left at a limit, agrees with the independent checker of rules.ts on valid placements and on
 * placements broken by moving instances at random.
 */
import { fc, test } from '@fast-check/vitest';
import { beforeAll, describe, expect } from 'vitest';
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { plan, type MipSolver, type Placement } from '../../../controller/planner/index.ts';
import { buildModel, instanceId, type Model } from '../../../controller/planner/model.ts';
import type { GroupPlacement } from '../../../controller/planner/place-group.ts';
import { keepsEveryRule } from '../../../controller/planner/placement-rules.ts';
import { loadSolver } from '../../../controller/solver/highs.ts';
import { hardFleet } from '../../builders/hard-fleet.ts';
import { runs } from '../../support/runs.ts';
import { violations } from './rules.ts';

function toIndices(model: Model, placement: readonly Placement[]): Map<number, GroupPlacement> {
  const out = new Map<number, GroupPlacement>();
  for (const g of model.groups) {
    const of = (kind: 'smp' | 'xftp', n: number) =>
      Array.from({ length: n }, (_, i) => model.deviceIndex.get(placement.find((p) => p.instance === instanceId(g.id, kind, i + 1))?.device ?? '') ?? -1);
    out.set(g.index, { smp: of('smp', g.smp), xftp: of('xftp', g.xftp) });
  }
  return out;
}

function toPlacement(spec: FleetSpec, model: Model, placements: ReadonlyMap<number, GroupPlacement>): Placement[] {
  const devices = new Map(spec.devices.map((d) => [d.id, d]));
  return model.groups.flatMap((g) => {
    const p = placements.get(g.index);
    const emit = (kind: 'smp' | 'xftp', list: readonly number[]) =>
      list.map((d, i): Placement => {
        const id = model.devices[d]?.id ?? '';
        const dev = devices.get(id);
        return { group: g.id, kind, instance: instanceId(g.id, kind, i + 1), device: id, operator: dev?.operator ?? '', location: dev?.location ?? '', jurisdiction: dev?.jurisdiction ?? '' };
      });
    return p === undefined ? [] : [...emit('smp', p.smp), ...emit('xftp', p.xftp)];
  });
}

describe('keepsEveryRule', () => {
  let solver: MipSolver;
  beforeAll(async () => {
    solver = await loadSolver();
  });

  test.prop([fc.integer({ min: 1, max: 400 }), fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 3 })], { numRuns: runs(150) })(
    'agrees with the independent checker, before and after instances move at random',
    (seed, moves) => {
      const spec = hardFleet(seed, 6 + (seed % 7));
      const result = plan(spec, null, { solver });
      fc.pre(result.feasible);
      const model = buildModel(spec);
      const placements = toIndices(model, result.placement);
      expect(keepsEveryRule(model, model.groups, placements)).toBe(true);
      for (const [which, to] of moves) {
        const g = model.groups[which % model.groups.length];
        const p = g === undefined ? undefined : placements.get(g.index);
        if (g === undefined || p === undefined) continue;
        const all = [...p.smp, ...p.xftp];
        const k = Math.floor(which / model.groups.length) % all.length;
        all[k] = to % model.devices.length;
        placements.set(g.index, { smp: all.slice(0, g.smp), xftp: all.slice(g.smp) });
      }
      expect(keepsEveryRule(model, model.groups, placements)).toBe(violations(spec, toPlacement(spec, model, placements)).length === 0);
    },
  );
});
