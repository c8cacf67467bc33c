/**
 * Publishing with the current device-state overrides, and waiting for the devices to converge: the
 * steps `apply`, `device drain` and `device revoke` share.
 */
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import type { ControllerSession } from '../bus/session.ts';
import { waitForConvergence, type WaitProgress, type WaitResult } from '../status/wait.ts';
import { ADMIN_CLIENT, adminClientPublicKey } from '../enroll/onion-clients.ts';
import { listDevices } from '../state/devices.ts';
import { lostDevices, readDeviceStates, withDeviceStates } from '../state/device-states.ts';
import type { StatePaths } from '../state/paths.ts';
import { publish, type PublishOptions, type PublishResult } from './publish.ts';
import { kvStore } from './store.ts';
import { movableIdentities } from '../backup/movable.ts';
import { readRotations, withRetiringCapacity, writeRotations } from '../state/rotations.ts';
import { MEMORY_MB } from '../planner/tier-rules.ts';

/** `spec` with the states set by `device drain` / `device revoke` applied. */
export async function effectiveSpec(paths: StatePaths, spec: FleetSpec): Promise<FleetSpec> {
  return withDeviceStates(spec, await readDeviceStates(paths));
}

export async function publishEffective(paths: StatePaths, session: ControllerSession, spec: FleetSpec, options: PublishOptions = {}): Promise<PublishResult> {
  const target = { own: kvStore(session.own), desired: kvStore(session.desired), identity: session.identity, secrets: session.secrets };
  const publicKey = await adminClientPublicKey(paths);
  const now = new Date();
  const rotations = await readRotations(paths, session.secrets);
  // Retiring instances hold their room until their date (docs/continuity.md, "Rotation").
  const effective = withRetiringCapacity(await effectiveSpec(paths, spec), rotations, now, MEMORY_MB.smp);
  // Moves keep their addresses where the group allows it (docs/continuity.md); a compromise or a rotation never does.
  const rotated = new Set(Object.values(rotations).map((r) => r.fingerprint));
  // Store logs too large for a desired state go as downloads (controller/apply/restore-downloads.ts).
  const downloads = new Map<string, Uint8Array>();
  const identities = options.identities ?? await movableIdentities(paths, session, effective, new Set(), rotated, downloads);
  const result = await publish({ ...target, restores: session.restores }, effective, await listDevices(paths), {
    sshClientAuth: [{ name: ADMIN_CLIENT, publicKey }], identities, downloads, rotations: new Map(Object.entries(rotations)), now, ...options,
  });
  const pending = Object.entries(rotations).filter(([, r]) => !r.published && !result.heldForHandOver.includes(r.device) && options.hold?.has(r.device) !== true);
  if (pending.length > 0) await writeRotations(paths, { ...rotations, ...Object.fromEntries(pending.map(([id, r]) => [id, { ...r, published: true }])) });
  return result;
}

/**
 * Waits until every device in `revisions` (minus `except`, and minus the devices declared lost: dead
 * Pis never report) reports its revision converged and healthy.
 */
export async function waitFor(paths: StatePaths, session: ControllerSession, revisions: ReadonlyMap<string, number>, timeoutMs: number,
  onProgress?: WaitProgress, except: ReadonlySet<string> = new Set()): Promise<WaitResult> {
  const lost = lostDevices(await readDeviceStates(paths));
  const wanted = new Map([...revisions].filter(([id]) => !except.has(id) && !lost.has(id)));
  return waitForConvergence(session, await listDevices(paths), wanted, timeoutMs, onProgress);
}
