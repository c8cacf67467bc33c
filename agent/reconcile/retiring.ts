/**
 * Rotated instances that still serve their old address (docs/continuity.md, "Rotation"). Pure.
 *
 * A desired state's `retiring` entry names the old identity (by fingerprint) and until when it runs.
 * While the instance's own directories still hold that identity, it is moved aside to
 * `<id>-retiring` first (the instance then makes a fresh identity under its own name); from then
 * until `until` the old one runs as an instance of its own, `<id>-retiring`; after `until` it is no
 * longer wanted, so the planner stops and archives it like any instance that left.
 */
import type { DesiredState, RetiringInstance } from '#shared/schema/desired-state.ts';
import type { Observation } from './plan.ts';

export const retiringName = (id: string): string => `${id}-retiring`;

export interface WithRetiring {
  /** `desired` plus the retiring instances that already run from their own directories. */
  readonly desired: DesiredState;
  /** Rotated instances whose directories still hold the old identity: move it aside first. */
  readonly moving: readonly RetiringInstance[];
}

export function withRetiring(desired: DesiredState, obs: Observation): WithRetiring {
  const live = (desired.retiring ?? []).filter((r) => Date.parse(obs.now) < Date.parse(r.until));
  const moving = live.filter((r) => !obs.instancesOnDisk.has(retiringName(r.instance.id)) && obs.fingerprints?.get(r.instance.id) === r.fingerprint);
  const serving = live.filter((r) => obs.instancesOnDisk.has(retiringName(r.instance.id)));
  if (serving.length === 0) return { desired, moving };
  const pseudo = serving.map((r) => ({ ...r.instance, id: retiringName(r.instance.id) }));
  const ports = [...new Set([...desired.firewall.loopbackOnlyPorts, ...pseudo.map((i) => i.localPort)])].sort((a, b) => a - b);
  return { desired: { ...desired, instances: [...desired.instances, ...pseudo], firewall: { loopbackOnlyPorts: ports } }, moving };
}
