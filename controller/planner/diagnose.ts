/**
 * Why a group could not be placed. A group that cannot be placed even on an otherwise empty fleet
 * breaks one of its own tier's rules (which one is found by checking them one at a time, in the
 * order of the tier table in docs/reference/fleet-yaml.md); one that fits alone lost out to the other groups.
 */
import { rejectDevice } from './filters.ts';
import { GroupWork } from './group-work.ts';
import { emptyLoad, type GroupInfo, type Model } from './model.ts';
import { placeGroup, type GroupOutcome } from './place-group.ts';
import { roomWithinCaps } from './place-smp.ts';
import { minSmpForTier } from './tier-rules.ts';
import type { Unmet } from './types.ts';

export function diagnose(model: Model, g: GroupInfo, failure: Extract<GroupOutcome, { ok: false }>, placedBefore: readonly string[]): Unmet {
  const work = new GroupWork(model, emptyLoad(model));
  const alone = placeGroup({ work, group: g, previous: new Map(), sticky: 'none', packing: 'compact' });
  const base = { group: g.id, tier: g.tier };
  if (alone.ok) {
    const needed = failure.kind === 'smp' ? g.smp : g.xftp;
    return { rule: 'shared-capacity', ...base, kind: failure.kind, needed, available: failure.room, placedBefore, filtered: failure.filtered };
  }

  const { filtered } = alone;
  const { rules } = g;
  if (alone.kind === 'xftp') {
    if (rules.xftpApart) return { rule: 'xftp-apart', ...base, filtered };
    return { rule: 'capacity', ...base, kind: 'xftp', needed: g.xftp, available: 0, maxPerOperator: g.xftp, maxPerDevice: g.xftp, filtered };
  }

  work.reset();
  const eligible = model.devices.filter((d) => rejectDevice(work, g, d.index, 'smp') === null);
  const capacity = (available: number): Unmet =>
    ({ rule: 'capacity', ...base, kind: 'smp', needed: g.smp, available, maxPerOperator: rules.maxPerOperator, maxPerDevice: rules.maxPerDevice, filtered });
  // No device can take even one SMP: room is missing, whatever the tier asks of the spread (a
  // standard group on a full or draining fleet lacks devices, not operators).
  if (eligible.length === 0) return capacity(0);
  const distinct = (pick: (d: (typeof eligible)[number]) => number, names: readonly string[]) =>
    [...new Set(eligible.map(pick))].map((i) => names[i] ?? '').sort();
  const operators = distinct((d) => d.operator, model.operators);
  const locations = distinct((d) => d.location, model.locations);
  const jurisdictions = distinct((d) => d.jurisdiction, model.jurisdictions);
  if (operators.length < rules.minOperators) return { rule: 'operators', ...base, needed: rules.minOperators, eligible: operators, filtered };
  if (locations.length < rules.minLocations) return { rule: 'locations', ...base, needed: rules.minLocations, eligible: locations, filtered };
  if (jurisdictions.length < rules.minJurisdictions) {
    return { rule: 'jurisdictions', ...base, needed: rules.minJurisdictions, eligible: jurisdictions, filtered };
  }
  const available = roomWithinCaps(work, g, eligible.map((d) => d.index));
  // A tier that asks for no spread (standard, elevated) can only lack room.
  if (available < g.smp || minSmpForTier(rules) <= 1) return capacity(available);
  return { rule: 'diversity', ...base, operators: rules.minOperators, locations: rules.minLocations, jurisdictions: rules.minJurisdictions, filtered };
}
