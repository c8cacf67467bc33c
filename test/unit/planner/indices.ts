/** Placements as the planner's core holds them (device indices per group) and back, for tests of the core. */
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import type { Placement } from '../../../controller/planner/index.ts';
import { instanceId, type Model } from '../../../controller/planner/model.ts';
import type { GroupPlacement } from '../../../controller/planner/place-group.ts';

export function toIndices(model: Model, placement: readonly Placement[]): Map<number, GroupPlacement> {
  const out = new Map<number, GroupPlacement>();
  for (const g of model.groups) {
    const of = (kind: 'smp' | 'xftp', n: number) =>
      Array.from({ length: n }, (_, i) => model.deviceIndex.get(placement.find((p) => p.instance === instanceId(g.id, kind, i + 1))?.device ?? '') ?? -1);
    out.set(g.index, { smp: of('smp', g.smp), xftp: of('xftp', g.xftp) });
  }
  return out;
}

export function toPlacement(spec: FleetSpec, model: Model, placements: ReadonlyMap<number, GroupPlacement>): Placement[] {
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
