import type { Tier } from '#shared/schema/fleet-spec.ts';

/** The tier table of docs/reference/fleet-yaml.md for a group with `n` SMP instances. */
export interface TierRules {
  readonly minOperators: number;
  readonly minLocations: number;
  readonly minJurisdictions: number;
  /** Most SMP instances of the group on one operator. */
  readonly maxPerOperator: number;
  /** Most SMP instances of the group on one device. */
  readonly maxPerDevice: number;
  /** XFTP only on devices that hold none of the group's SMP. */
  readonly xftpApart: boolean;
  /** The group's devices host no other group's instances. */
  readonly forceDedicated: boolean;
}

export function tierRules(tier: Tier, n: number): TierRules {
  switch (tier) {
    case 'standard':
    case 'elevated':
      return { minOperators: 1, minLocations: 1, minJurisdictions: 1, maxPerOperator: n, maxPerDevice: n, xftpApart: false, forceDedicated: false };
    case 'high':
      return { minOperators: 2, minLocations: 2, minJurisdictions: 1, maxPerOperator: Math.ceil(n / 2), maxPerDevice: Math.ceil(n / 2), xftpApart: true, forceDedicated: true };
    case 'extreme':
      return { minOperators: 3, minLocations: 3, minJurisdictions: 3, maxPerOperator: Math.ceil(n / 3), maxPerDevice: Math.ceil(n / 4), xftpApart: true, forceDedicated: true };
  }
}

/** Fewest SMP instances that can meet the tier's spread at all. */
export function minSmpForTier(rules: TierRules): number {
  return Math.max(rules.minOperators, rules.minLocations, rules.minJurisdictions);
}

export const TIER_RANK: Readonly<Record<Tier, number>> = { standard: 0, elevated: 1, high: 2, extreme: 3 };

/** The memory model of docs/reference/fleet-yaml.md, in MB. */
export const MEMORY_MB = { deviceBase: 300, smp: 45, xftp: 60 } as const;
