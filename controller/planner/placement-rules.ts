/**
 * The tier rules checked over a finished placement of device indices: what a placement must
 * hold before the planner may return it. The exact core uses it on an answer the solver left when
 * a limit stopped it (a limit status need not carry a solution; when it does, this says whether it
 * is one). Pure: no I/O.
 */
import type { GroupInfo, Model } from './model.ts';
import type { GroupPlacement } from './place-group.ts';
import { MEMORY_MB } from './tier-rules.ts';

/** True when every group is placed whole and every rule of docs/reference/fleet-yaml.md holds. */
export function keepsEveryRule(model: Model, groups: readonly GroupInfo[], placements: ReadonlyMap<number, GroupPlacement>): boolean {
  const slots = new Map<number, number>();
  const memory = new Map<number, number>();
  const owners = new Map<number, Set<number>>();
  const add = (d: number, g: GroupInfo, mb: number) => {
    slots.set(d, (slots.get(d) ?? 0) + 1);
    memory.set(d, (memory.get(d) ?? 0) + mb);
    const set = owners.get(d) ?? new Set<number>();
    set.add(g.index);
    owners.set(d, set);
  };
  for (const g of groups) {
    const p = placements.get(g.index);
    if (p === undefined || p.smp.length !== g.smp || p.xftp.length !== g.xftp) return false;
    const smpOn = new Map<number, number>();
    const perOperator = new Map<number, number>();
    const operators = new Set<number>();
    const locations = new Set<number>();
    const jurisdictions = new Set<number>();
    for (const d of p.smp) {
      const dev = model.devices[d];
      if (dev === undefined) return false;
      smpOn.set(d, (smpOn.get(d) ?? 0) + 1);
      perOperator.set(dev.operator, (perOperator.get(dev.operator) ?? 0) + 1);
      operators.add(dev.operator);
      locations.add(dev.location);
      jurisdictions.add(dev.jurisdiction);
      add(d, g, MEMORY_MB.smp);
    }
    for (const d of p.xftp) {
      if (model.devices[d] === undefined || (g.rules.xftpApart && smpOn.has(d))) return false;
      add(d, g, MEMORY_MB.xftp);
    }
    const { rules } = g;
    if ([...smpOn.values()].some((n) => n > rules.maxPerDevice)) return false;
    if ([...perOperator.values()].some((n) => n > rules.maxPerOperator)) return false;
    if (operators.size < rules.minOperators || locations.size < rules.minLocations || jurisdictions.size < rules.minJurisdictions) return false;
  }
  for (const [d, used] of slots) {
    const dev = model.devices[d];
    if (dev === undefined || dev.state !== 'active' || used > dev.maxInstances) return false;
    if (MEMORY_MB.deviceBase + (memory.get(d) ?? 0) > dev.memoryMb) return false;
    const here = [...(owners.get(d) ?? [])];
    if (here.length > 1 && here.some((g) => model.groups[g]?.dedicated === true)) return false;
  }
  return true;
}
