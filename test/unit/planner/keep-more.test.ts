/**
 * keep-more.ts: instances a re-plan moved go back to their previous devices wherever every rule
 * still holds; nothing kept ever moves, and the answer keeps every rule (the independent checker).
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { plan } from '../../../controller/planner/index.ts';
import { keepMore } from '../../../controller/planner/keep-more.ts';
import { buildModel, instanceId, type GroupInfo } from '../../../controller/planner/model.ts';
import type { GroupPlacement } from '../../../controller/planner/place-group.ts';
import { devicesOf, fleet } from '../../builders/fleet.ts';
import { hardFleet } from '../../builders/hard-fleet.ts';
import { runs } from '../../support/runs.ts';
import { toIndices, toPlacement } from './indices.ts';
import { violations } from './rules.ts';

/** Instance id → whether it sits on its previous device. */
function keptIds(groups: readonly GroupInfo[], placements: ReadonlyMap<number, GroupPlacement>, previous: ReadonlyMap<string, number>): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const g of groups) {
    const p = placements.get(g.index);
    for (const kind of ['smp', 'xftp'] as const) {
      p?.[kind].forEach((d, i) => {
        const id = instanceId(g.id, kind, i + 1);
        out.set(id, previous.get(id) === d);
      });
    }
  }
  return out;
}

describe('keepMore', () => {
  it('undoes a shuffle nothing forced: two instances that traded devices, and one sent to a third', () => {
    const spec = fleet(devicesOf('alice', 3), [{ id: 'family', smp: 2, xftp: 0 }]);
    const model = buildModel(spec);
    const previous = new Map([[instanceId('family', 'smp', 1), 0], [instanceId('family', 'smp', 2), 1]]);
    const shuffled = new Map([[0, { smp: [2, 0], xftp: [] }]]);
    expect(keepMore(model, model.groups, shuffled, previous).get(0)).toEqual({ smp: [0, 1], xftp: [] });
  });

  test.prop([fc.integer({ min: 1, max: 400 })], { numRuns: runs(60) })(
    'after a drain, from a fresh placement that ignored the previous one: keeps every rule, keeps all it kept and more',
    (seed) => {
      const spec = hardFleet(seed, 6 + (seed % 7));
      const first = plan(spec, null);
      fc.pre(first.feasible);
      const victim = first.placement[seed % first.placement.length]?.device;
      const drained = { ...spec, devices: spec.devices.map((d) => (d.id === victim ? { ...d, state: 'draining' as const } : d)) };
      const fresh = plan(drained, null); // a valid placement that ignores where instances were
      fc.pre(fresh.feasible);
      const model = buildModel(drained);
      const previous = new Map(first.placement.map((p) => [p.instance, model.deviceIndex.get(p.device) ?? -1]));
      const before = toIndices(model, fresh.placement);
      const after = keepMore(model, model.groups, before, previous);
      expect(violations(drained, toPlacement(drained, model, after))).toEqual([]);
      const keptBefore = keptIds(model.groups, before, previous);
      const keptAfter = keptIds(model.groups, after, previous);
      for (const [id, kept] of keptBefore) if (kept) expect(keptAfter.get(id), id).toBe(true);
      const count = (m: Map<string, boolean>) => [...m.values()].filter(Boolean).length;
      expect(count(keptAfter)).toBeGreaterThanOrEqual(count(keptBefore));
    },
  );
});
