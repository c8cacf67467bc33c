/**
 * Sentences for people: one per unmet rule, naming the group, the rule, the devices filtered per
 * reason, and a remedy.
 */
import type { FilterCounts, FilterReason } from './filters.ts';
import type { Unmet } from './types.ts';

const REASON_TEXT: Readonly<Record<FilterReason, string>> = {
  draining: 'draining',
  revoked: 'revoked',
  'dedicated-to-other': 'dedicated to another group',
  'shared-with-other-groups': 'already host other groups',
  full: 'full (maxInstances)',
  memory: 'out of memory',
  'holds-group-smp': "hold the group's SMP",
};

/** `devices filtered: 2 draining, 1 full (maxInstances)`, or '' when none were. */
export function describeFiltered(filtered: FilterCounts): string {
  const parts = (Object.keys(REASON_TEXT) as FilterReason[]).filter((r) => filtered[r] > 0).map((r) => `${filtered[r]} ${REASON_TEXT[r]}`);
  return parts.length === 0 ? '' : ` (devices filtered: ${parts.join(', ')})`;
}

const plural = (n: number, word: string, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;
const list = (items: readonly string[]) => (items.length === 0 ? 'none' : items.join(', '));

export function explain(unmet: readonly Unmet[]): string[] {
  return unmet.map(sentence);
}

function sentence(u: Unmet): string {
  const who = `group ${u.group} (${u.tier})`;
  switch (u.rule) {
    case 'instances-for-tier':
      return `${who}: the tier spreads SMP over at least ${u.needed} operators and locations, but smp is ${u.smp} — set smp to ${u.needed} or more, or lower the tier.`;
    case 'operators':
      return `${who}: needs SMP on at least ${plural(u.needed, 'operator')}; ${u.eligible.length === 0 ? 'no operator has' : `only ${list(u.eligible)} ${u.eligible.length === 1 ? 'has' : 'have'}`} eligible devices${describeFiltered(u.filtered)} — add an active device of another operator, free capacity, or lower the tier.`;
    case 'locations':
      return `${who}: needs SMP in at least ${plural(u.needed, 'location')}; eligible devices are only in ${list(u.eligible)}${describeFiltered(u.filtered)} — add a device in another location, or lower the tier.`;
    case 'jurisdictions':
      return `${who}: needs SMP in at least ${plural(u.needed, 'jurisdiction')}; eligible devices are only in ${list(u.eligible)}${describeFiltered(u.filtered)} — add a device in another jurisdiction, or lower the tier.`;
    case 'diversity':
      return `${who}: no set of eligible devices spans ${plural(u.operators, 'operator')}, ${plural(u.locations, 'location')} and ${plural(u.jurisdictions, 'jurisdiction')} at once${describeFiltered(u.filtered)} — add devices whose operator, location and jurisdiction all differ from the others, or lower the tier.`;
    case 'capacity':
      return u.kind === 'smp'
        ? `${who}: needs room for ${plural(u.needed, 'SMP instance')} with at most ${u.maxPerOperator} per operator and ${u.maxPerDevice} per device; eligible devices hold ${u.available}${describeFiltered(u.filtered)} — add devices or operators, raise capacity (maxInstances, memoryMb), or lower smp.`
        : `${who}: needs room for ${plural(u.needed, 'XFTP instance')}; no eligible device has a free slot and 60 MB${describeFiltered(u.filtered)} — add a device or raise capacity, or lower xftp.`;
    case 'xftp-apart':
      return `${who}: XFTP must run on a device that holds none of the group's SMP, and no such device is eligible${describeFiltered(u.filtered)} — add a device (of any operator), or set xftp: 0.`;
    case 'shared-capacity':
      return `${who}: fits on its own but not beside ${list(u.placedBefore)}: needs room for ${plural(u.needed, `${u.kind === 'smp' ? 'SMP' : 'XFTP'} instance`)} and ${u.available} ${u.available === 1 ? 'is' : 'are'} left within the tier's caps${describeFiltered(u.filtered)} — add devices or capacity, or make fewer groups dedicated.`;
  }
}
