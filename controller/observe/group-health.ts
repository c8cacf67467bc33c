/**
 * Is a group at or above its tier's healthy minimum? Pure.
 *
 * The minimum is what the tier's spread needs among *healthy* instances: at least
 * `minSmpForTier` healthy SMP instances (1 · 1 · 2 · 3 for standard · elevated · high · extreme)
 * on at least the tier's number of distinct operators, and a healthy XFTP instance when the
 * group has XFTP at all. Below it, the group's members lose the redundancy (or the service) their
 * tier promised.
 */
import { minSmpForTier, tierRules } from '../planner/tier-rules.ts';
import type { FleetSnapshot, SnapshotGroup } from './snapshot.ts';

export interface GroupHealth {
  readonly group: string;
  readonly tier: string;
  readonly healthySmp: number;
  readonly healthyXftp: number;
  readonly healthyOperators: number;
  readonly minSmp: number;
  readonly minOperators: number;
  readonly minXftp: number;
  readonly belowMinimum: boolean;
  /** Why it is below, in words (empty when it is not). */
  readonly reasons: readonly string[];
}

export function groupHealth(snapshot: FleetSnapshot, group: SnapshotGroup): GroupHealth {
  const rules = tierRules(group.tier, group.smp);
  const mine = snapshot.instances.filter((i) => i.group === group.id && i.healthy);
  const smp = mine.filter((i) => i.kind === 'smp');
  const healthyOperators = new Set(smp.map((i) => i.operator)).size;
  const healthyXftp = mine.filter((i) => i.kind === 'xftp').length;
  const minSmp = minSmpForTier(rules);
  const minXftp = group.xftp > 0 ? 1 : 0;
  const reasons: string[] = [];
  if (smp.length < minSmp) reasons.push(`${smp.length} healthy SMP instance(s), the ${group.tier} tier needs ${minSmp}`);
  if (healthyOperators < rules.minOperators) reasons.push(`healthy SMP on ${healthyOperators} operator(s), the ${group.tier} tier needs ${rules.minOperators}`);
  if (healthyXftp < minXftp) reasons.push('no healthy XFTP instance');
  return {
    group: group.id, tier: group.tier, healthySmp: smp.length, healthyXftp, healthyOperators,
    minSmp, minOperators: rules.minOperators, minXftp, belowMinimum: reasons.length > 0, reasons,
  };
}
