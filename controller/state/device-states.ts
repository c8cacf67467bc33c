/**
 * States the admin set from the command line (`device drain`, `device revoke`) on top of fleet.yaml.
 * The stronger of the two wins (revoked > draining > active), so a later `apply -f fleet.yaml` that
 * still says `active` never brings a revoked device back; edit fleet.yaml to match when convenient.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import type { StatePaths } from './paths.ts';

const Override = z.strictObject({ state: z.enum(['draining', 'lost', 'revoked']), since: z.string() });
const Overrides = z.record(z.string(), Override);
export type DeviceStateOverrides = z.infer<typeof Overrides>;

/** `lost` (`device lost`: dead, not compromised) places like draining — nothing stays — but is never waited on. */
const RANK = { active: 0, draining: 1, lost: 2, revoked: 3 } as const;

function file(paths: StatePaths): string {
  return join(paths.dir, 'device-states.json');
}

export async function readDeviceStates(paths: StatePaths): Promise<DeviceStateOverrides> {
  const exists = await readFile(file(paths)).then(() => true, () => false);
  return exists ? loadJson(file(paths), Overrides, 'the device states') : {};
}

/** Puts back the overrides read earlier (a drain whose plan was refused must not leave its mark). */
export async function restoreDeviceStates(paths: StatePaths, overrides: DeviceStateOverrides): Promise<void> {
  await writeFileAtomic(file(paths), `${JSON.stringify(overrides, null, 2)}\n`, { mode: 0o600 });
}

/** Records `state` for `device` (never weakens: revoked stays revoked). */
export async function setDeviceState(paths: StatePaths, device: string, state: 'draining' | 'lost' | 'revoked', now: Date): Promise<void> {
  const all = await readDeviceStates(paths);
  const current = all[device];
  if (current !== undefined && RANK[current.state] >= RANK[state]) return;
  all[device] = { state, since: now.toISOString() };
  await writeFileAtomic(file(paths), `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
}

/** `spec` with each device's state raised to its override. Pure. */
export function withDeviceStates(spec: FleetSpec, overrides: DeviceStateOverrides): FleetSpec {
  return {
    ...spec,
    devices: spec.devices.map((d) => {
      const o = overrides[d.id];
      return o !== undefined && RANK[o.state] > RANK[d.state] ? { ...d, state: o.state === 'lost' ? 'draining' : o.state } : d;
    }),
  };
}

/** Devices declared lost (`device lost`): dead Pis, never waited on by a rollout or `--wait`. */
export function lostDevices(overrides: DeviceStateOverrides): Set<string> {
  return new Set(Object.entries(overrides).flatMap(([id, o]) => (o.state === 'lost' ? [id] : [])));
}
