/**
 * Who may reach the controller's bus. One call after any change to the set of enrolled devices (add,
 * approve, revoke) or of join tokens: the NATS users are re-rendered and reloaded, and the NATS onion's
 * client-authorization list follows (a removed key cannot even fetch the descriptor).
 */
import { syncNatsUsers } from '../nats-server/sync.ts';
import { withStateLock } from '../state/lock.ts';
import type { StatePaths } from '../state/paths.ts';
import { reloadControllerTor } from '../tor/runtime.ts';
import { syncOnionClients } from './onion-clients.ts';

export interface AccessSync {
  /** The running nats-server confirmed the reload (false: none runs; the next `serve` reads the state). */
  readonly natsReloaded: boolean;
  /** The onion's client list changed and the running controller tor confirmed the reload. */
  readonly torReloaded: boolean;
}

/**
 * One process at a time (a lock in the state dir). Devices, the admin and the open join tokens keep
 * their onion keys; everything else loses them.
 */
export async function syncAccess(paths: StatePaths): Promise<AccessSync> {
  return withStateLock(paths, 'access', async () => {
    const natsReloaded = await syncNatsUsers(paths);
    const clientsChanged = await syncOnionClients(paths);
    const torReloaded = clientsChanged ? await reloadControllerTor(paths) : false;
    return { natsReloaded, torReloaded };
  });
}
