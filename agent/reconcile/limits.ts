/** The owner's limits (agent config), checked against a desired state before anything is done. Pure. */
import type { DesiredState } from '#shared/schema/desired-state.ts';
import type { OwnerLimits } from '../config.ts';

/** Why the device's owner does not allow `desired`; empty when allowed. */
export function limitViolations(desired: DesiredState, limits: OwnerLimits): string[] {
  const reasons: string[] = [];
  if (limits.maxInstances !== undefined && desired.instances.length > limits.maxInstances) {
    reasons.push(`${desired.instances.length} instances exceed the owner's limit of ${limits.maxInstances}`);
  }
  if (limits.allowedGroups !== undefined) {
    const allowed = new Set(limits.allowedGroups);
    const foreign = [...new Set(desired.instances.map((i) => i.group).filter((g) => !allowed.has(g)))].sort();
    if (foreign.length > 0) reasons.push(`group${foreign.length === 1 ? '' : 's'} ${foreign.join(', ')} not allowed by the owner (allowed: ${limits.allowedGroups.join(', ') || 'none'})`);
  }
  return reasons;
}
