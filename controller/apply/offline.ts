/**
 * The offline path (the extreme tier): the same plan and sealed desired states as `apply`, written
 * as files for an operator to carry to each device — no bus involved. The controller's own records
 * stay in its state directory, so the next offline apply is sticky and keeps passwords.
 */
import { join } from 'node:path';
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { listDevices } from '../state/devices.ts';
import { loadIdentity } from '../state/identity.ts';
import { loadSecrets } from '../state/keys.ts';
import type { StatePaths } from '../state/paths.ts';
import { ADMIN_CLIENT, adminClientPublicKey } from '../enroll/onion-clients.ts';
import { publish } from './publish.ts';
import { fileStore } from './store.ts';

/** Returns the files written (`<out>/<device>.age`, one per changed device). */
export async function offlineApply(paths: StatePaths, passphrase: string | null, spec: FleetSpec, out: string): Promise<string[]> {
  const result = await publish(
    { own: fileStore(join(paths.dir, 'offline')), desired: fileStore(out), identity: await loadIdentity(paths), secrets: await loadSecrets(paths, passphrase) },
    spec,
    await listDevices(paths),
    { sshClientAuth: [{ name: ADMIN_CLIENT, publicKey: await adminClientPublicKey(paths) }] },
  );
  return result.changed.map((device) => join(out, `${device}.age`));
}
