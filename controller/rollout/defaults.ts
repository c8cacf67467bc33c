/**
 * Rollout defaults per tier (docs/rollouts.md): how many devices of one group may change at once,
 * how many canary devices go first, and how long a wave must stay healthy before the next one
 * starts. Pure data.
 */
import { TIERS, type Tier } from '#shared/schema/fleet-spec.ts';

export interface TierRollout {
  /** Devices serving one group that may change in the same wave. */
  readonly maxUnavailable: number;
  /** Devices in the first (canary) wave. */
  readonly canary: number;
  /** Seconds every device of a wave must stay healthy before the next wave starts. */
  readonly soakSeconds: number;
}

export const TIER_ROLLOUT: Readonly<Record<Tier, TierRollout>> = {
  standard: { maxUnavailable: 1, canary: 1, soakSeconds: 0 },
  elevated: { maxUnavailable: 1, canary: 1, soakSeconds: 15 },
  high: { maxUnavailable: 1, canary: 1, soakSeconds: 30 },
  extreme: { maxUnavailable: 1, canary: 1, soakSeconds: 60 },
};

/** 0 for standard … 3 for extreme. */
export function tierRank(tier: Tier): number {
  return TIERS.indexOf(tier);
}
