/**
 * The planner's own rule check (controller/planner/placement-rules.ts), used on answers a solver
 * left at a limit, agrees with the independent checker of rules.ts on valid placements and on
 * placements broken by moving instances at random.
 */
import { fc, test } from '@fast-check/vitest';
import { beforeAll, describe, expect } from 'vitest';
import { plan, type MipSolver } from '../../../controller/planner/index.ts';
import { buildModel } from '../../../controller/planner/model.ts';
import { keepsEveryRule } from '../../../controller/planner/placement-rules.ts';
import { loadSolver } from '../../../controller/solver/highs.ts';
import { hardFleet } from '../../builders/hard-fleet.ts';
import { runs } from '../../support/runs.ts';
import { toIndices, toPlacement } from './indices.ts';
import { violations } from './rules.ts';

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
