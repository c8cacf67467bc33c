/**
 * What `backup list|verify|export` read: the sealed backups, the devices' signing keys and statuses —
 * from the bus (through the controller's session), or from a directory `backup export` wrote.
 */
import type { DeviceStatus } from '#shared/schema/status.ts';
import { openSession } from '../bus/session.ts';
import { listDevices } from '../state/devices.ts';
import type { StatePaths } from '../state/paths.ts';
import { readFleetStatus } from '../status/view.ts';
import { readBackupBucket, type SealedBackup } from './open-backups.ts';
import { readStoreLogBucket, type SealedPart } from './store-log-chain.ts';

export interface Gathered {
  readonly backups: SealedBackup[];
  /** The store-log chains' parts (sealed, as the gateway stored them). */
  readonly parts: SealedPart[];
  readonly signers: Map<string, string>;
  readonly statuses: Map<string, DeviceStatus>;
  /** The controller's own age identity (to open with when no other is given). */
  readonly controllerIdentity: string;
}

/** Everything from the bus; the session is closed before it returns. */
export async function gatherFromBus(paths: StatePaths, passphrase: string | null): Promise<Gathered> {
  const session = await openSession(paths, passphrase, { create: false });
  try {
    const devices = await listDevices(paths);
    const statuses = new Map<string, DeviceStatus>();
    for (const view of await readFleetStatus(session, devices)) if (view.status !== null) statuses.set(view.device, view.status);
    return { backups: await readBackupBucket(session.backups), parts: await readStoreLogBucket(session.storeLogs), signers: new Map(devices.map((d) => [d.device, d.signingKey])), statuses, controllerIdentity: session.secrets.ageIdentity };
  } finally {
    await session.close();
  }
}
