/**
 * Sentences for people: one per unmet rule, naming the group, the rule, the devices filtered per
 * reason, and a remedy. Each remedy offers only what can help with that rule: another operator only
 * where the tier's spread or per-operator cap asks for one, a lower tier only where a lower tier asks
 * for less (high and extreme; elevated has standard's rules), fewer dedicated groups only where
 * dedication turned devices away, an active device only where devices are draining.
 */
import type { FilterCounts, FilterReason } from './filters.ts';
import type { PlanMetrics, PlanResult, Unmet } from './types.ts';

/** What a filtered device is, for one device and for several. */
const REASON_TEXT: Readonly<Record<FilterReason, readonly [string, string]>> = {
  draining: ['draining', 'draining'],
  revoked: ['revoked', 'revoked'],
  'dedicated-to-other': ['dedicated to another group', 'dedicated to another group'],
  'shared-with-other-groups': ['already hosts other groups', 'already host other groups'],
  full: ['full (maxInstances)', 'full (maxInstances)'],
  memory: ['out of memory', 'out of memory'],
  'holds-group-smp': ["holds the group's SMP", "hold the group's SMP"],
};

/** `devices filtered: 2 draining, 1 full (maxInstances)`, or '' when none were. */
export function describeFiltered(filtered: FilterCounts): string {
  const parts = (Object.keys(REASON_TEXT) as FilterReason[])
    .filter((r) => filtered[r] > 0)
    .map((r) => `${filtered[r]} ${REASON_TEXT[r][filtered[r] === 1 ? 0 : 1]}`);
  return parts.length === 0 ? '' : ` (devices filtered: ${parts.join(', ')})`;
}

const plural = (n: number, word: string, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;
const list = (items: readonly string[]) => (items.length === 0 ? 'none' : items.join(', '));
/** `a`, `a, or b`, `a, b, or c`. */
const either = (options: readonly string[]) => (options.length <= 1 ? options.join('') : `${options.slice(0, -1).join(', ')}, or ${options.at(-1) ?? ''}`);
const when = (condition: boolean, option: string): string[] => (condition ? [option] : []);

export function explain(unmet: readonly Unmet[]): string[] {
  return unmet.map(sentence);
}

/** The sentences of an infeasible plan: one per unmet rule, then what the claim rests on. */
export function explainPlan(result: PlanResult): string[] {
  if (result.feasible) return [];
  const claim = infeasibleClaim(result.metrics);
  return [...explain(result.metrics.unmet), ...(claim === null ? [] : [claim])];
}

/**
 * "Infeasible" is a claim: proven when the exact solver ruled out every placement, or a search that
 * was not exhaustive. (A group too small for its tier needs no search: its sentence says it all.)
 */
function infeasibleClaim(m: PlanMetrics): string | null {
  if (m.unmet.some((u) => u.rule === 'instances-for-tier')) return null;
  if (m.proven) return `proven: no placement of these groups on these ${plural(m.activeDevices, 'active device')} keeps every rule (exact search).`;
  const why =
    m.solver === null ? 'the exact solver was not run'
    : m.solver.status.startsWith('not tried') ? `the fleet is too large for the exact solver (${m.devices} devices × ${m.groups.length} groups)`
    : `the exact solver stopped at its limit (${m.solver.status.toLowerCase()})`;
  return `not proven: the search was not exhaustive — ${why}, so a placement may still exist; add room or operators where the sentences above say, or split the fleet.`;
}

function sentence(u: Unmet): string {
  const who = `group ${u.group} (${u.tier})`;
  switch (u.rule) {
    case 'instances-for-tier':
      return `${who}: the tier spreads SMP over at least ${u.needed} operators and locations, but smp is ${u.smp} — ${either([`set smp to ${u.needed} or more`, 'lower the tier'])}.`;
    case 'operators': {
      const has = u.eligible.length === 0 ? 'no operator has' : `only ${list(u.eligible)} ${u.eligible.length === 1 ? 'has' : 'have'}`;
      // Only high and extreme get here (diagnose.ts): they need another operator, and a lower tier needs fewer.
      const remedy = either(['add an active device of another operator', 'free capacity', 'lower the tier']);
      return `${who}: needs SMP on at least ${plural(u.needed, 'operator')}; ${has} eligible devices${describeFiltered(u.filtered)} — ${remedy}.`;
    }
    case 'locations':
      return `${who}: needs SMP in at least ${plural(u.needed, 'location')}; eligible devices are only in ${list(u.eligible)}${describeFiltered(u.filtered)} — ${either(['add a device in another location', 'lower the tier'])}.`;
    case 'jurisdictions':
      return `${who}: needs SMP in at least ${plural(u.needed, 'jurisdiction')}; eligible devices are only in ${list(u.eligible)}${describeFiltered(u.filtered)} — ${either(['add a device in another jurisdiction', 'lower the tier'])}.`;
    case 'diversity':
      return `${who}: no set of eligible devices spans ${plural(u.operators, 'operator')}, ${plural(u.locations, 'location')} and ${plural(u.jurisdictions, 'jurisdiction')} at once${describeFiltered(u.filtered)} — ${either(['add devices whose operator, location and jurisdiction all differ from the others', 'lower the tier'])}.`;
    case 'capacity': {
      if (u.kind === 'xftp') {
        return `${who}: needs room for ${plural(u.needed, 'XFTP instance')}; no eligible device has a free slot and 60 MB${describeFiltered(u.filtered)} — ${either(['add a device', ...when(u.filtered.draining > 0, 'return a draining device to active'), 'raise capacity (maxInstances, memoryMb)', 'lower xftp'])}.`;
      }
      // The tier's caps matter only where they are below what the group needs (high, extreme).
      const operatorCap = u.maxPerOperator < u.needed;
      const capped = operatorCap || u.maxPerDevice < u.needed;
      const caps = capped ? ` with at most ${u.maxPerOperator} per operator and ${u.maxPerDevice} per device` : '';
      const hold = u.available === 0 ? 'no device can take one' : `eligible devices hold ${u.available}`;
      const remedy = either([
        operatorCap ? 'add devices or operators' : 'add devices',
        ...when(u.filtered.draining > 0, 'return a draining device to active'),
        ...when(u.available > 0 || full(u.filtered), 'raise capacity (maxInstances, memoryMb)'),
        ...when(u.available > 0, 'lower smp'),
        ...when(capped, 'lower the tier'),
      ]);
      return `${who}: needs room for ${plural(u.needed, 'SMP instance')}${caps}; ${hold}${describeFiltered(u.filtered)} — ${remedy}.`;
    }
    case 'xftp-apart':
      return `${who}: XFTP must run on a device that holds none of the group's SMP, and no such device is eligible${describeFiltered(u.filtered)} — ${either(['add a device (of any operator)', 'set xftp: 0'])}.`;
    case 'shared-capacity': {
      const dedication = u.filtered['dedicated-to-other'] + u.filtered['shared-with-other-groups'] > 0;
      const kind = u.kind === 'smp' ? 'SMP' : 'XFTP';
      return `${who}: fits on its own but not beside ${list(u.placedBefore)}: needs room for ${plural(u.needed, `${kind} instance`)} and ${u.available} ${u.available === 1 ? 'is' : 'are'} left within the tier's caps${describeFiltered(u.filtered)} — ${either(['add devices', 'raise capacity (maxInstances, memoryMb)', ...when(dedication, 'make fewer groups dedicated')])}.`;
    }
  }
}

/** Devices turned away for want of room, which freeing capacity would bring back. */
function full(filtered: FilterCounts): boolean {
  return filtered.full + filtered.memory > 0;
}
