/**
 * Publishing with the current device-state overrides, and waiting for the devices to converge: the
 * steps `apply`, `device drain` and `device revoke` share.
 */
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import type { ControllerSession } from '../bus/session.ts';
import { waitForConvergence, type WaitProgress, type WaitResult } from '../status/wait.ts';
import { ADMIN_CLIENT, adminClientPublicKey } from '../enroll/onion-clients.ts';
import { listDevices } from '../state/devices.ts';
import { readDeviceStates, withDeviceStates } from '../state/device-states.ts';
import type { StatePaths } from '../state/paths.ts';
import { publish, type PublishOptions, type PublishResult } from './publish.ts';
import { kvStore } from './store.ts';
import { movableIdentities } from '../backup/movable.ts';

/** `spec` with the states set by `device drain` / `device revoke` applied. */
export async function effectiveSpec(paths: StatePaths, spec: FleetSpec): Promise<FleetSpec> {
  return withDeviceStates(spec, await readDeviceStates(paths));
}

export async function publishEffective(paths: StatePaths, session: ControllerSession, spec: FleetSpec, options: PublishOptions = {}): Promise<PublishResult> {
  const target = { own: kvStore(session.own), desired: kvStore(session.desired), identity: session.identity, secrets: session.secrets };
  const publicKey = await adminClientPublicKey(paths);
  const effective = await effectiveSpec(paths, spec);
  // Moves keep their addresses where the group allows it (docs/continuity.md); a compromise never does.
  const identities = options.identities ?? await movableIdentities(paths, session, effective);
  return publish(target, effective, await listDevices(paths), { sshClientAuth: [{ name: ADMIN_CLIENT, publicKey }], identities, ...options });
}

/** Waits until every device in `revisions` (minus `except`) reports its revision converged and healthy. */
export async function waitFor(paths: StatePaths, session: ControllerSession, revisions: ReadonlyMap<string, number>, timeoutMs: number,
  onProgress?: WaitProgress, except: ReadonlySet<string> = new Set()): Promise<WaitResult> {
  const wanted = new Map([...revisions].filter(([id]) => !except.has(id)));
  return waitForConvergence(session, await listDevices(paths), wanted, timeoutMs, onProgress);
}
