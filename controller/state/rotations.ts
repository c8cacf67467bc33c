/**
 * Rotations (`onionfleet rotate`): per instance, the old identity that keeps running as retiring
 * until its retire date. Kept in the controller's state as a secret file (it holds the old address),
 * sealed with the state's passphrase when it has one.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { Id } from '#shared/schema/common.ts';
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import type { StatePaths } from './paths.ts';
import { readSecret, writeSecret, type SecretKeys } from './secret-files.ts';

export const Rotation = z.strictObject({
  device: Id,
  /** The old identity's fingerprint and address (the bundle lists the address until `until`). */
  fingerprint: z.string(),
  address: z.string(),
  until: z.iso.datetime(),
  /** False until a publish gave the instance its new identity and the device its retiring entry. */
  published: z.boolean(),
});
export type Rotation = z.infer<typeof Rotation>;
const Rotations = z.record(z.string(), Rotation);
export type Rotations = z.infer<typeof Rotations>;

const file = (paths: StatePaths) => join(paths.dir, 'rotations.json');

export async function readRotations(paths: StatePaths, keys: SecretKeys): Promise<Rotations> {
  const bytes = await readSecret(paths, file(paths), keys);
  if (bytes === null) return {};
  return Rotations.parse(JSON.parse(new TextDecoder().decode(bytes)));
}

export async function writeRotations(paths: StatePaths, rotations: Rotations): Promise<void> {
  await writeSecret(paths, file(paths), `${JSON.stringify(rotations, null, 2)}\n`);
}

/**
 * `spec` with each device's capacity lowered by the retiring instances it still runs (until their
 * date): the planner counts them, so a retiring instance's room is never free room. Pure.
 */
export function withRetiringCapacity(spec: FleetSpec, rotations: Rotations, now: Date, memoryPerInstanceMb: number): FleetSpec {
  const count = new Map<string, number>();
  for (const r of Object.values(rotations)) if (Date.parse(r.until) > now.getTime()) count.set(r.device, (count.get(r.device) ?? 0) + 1);
  if (count.size === 0) return spec;
  return {
    ...spec,
    devices: spec.devices.map((d) => {
      const n = count.get(d.id) ?? 0;
      return n === 0 ? d : { ...d, capacity: { maxInstances: Math.max(0, d.capacity.maxInstances - n), memoryMb: Math.max(0, d.capacity.memoryMb - n * memoryPerInstanceMb) } };
    }),
  };
}
