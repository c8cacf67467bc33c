/**
 * Who may reach the controller's bus. One call after any change to the set of enrolled devices (add,
 * approve, revoke) or of join tokens: the NATS users are re-rendered and reloaded, and the NATS onion's
 * client-authorization list follows (a removed key cannot even fetch the descriptor).
 */
import { syncNatsUsers } from '../nats-server/sync.ts';
import { withStateLock } from '../state/lock.ts';
import type { StatePaths } from '../state/paths.ts';
import { reloadControllerTor } from '../tor/runtime.ts';
import { syncOnionClients, type OnionClient } from './onion-clients.ts';
import { openTokenClients } from './token-clients.ts';

export interface AccessSync {
  /** The running nats-server confirmed the reload (false: none runs; the next `serve` reads the state). */
  readonly natsReloaded: boolean;
  /** The onion's client list changed and the running controller tor confirmed the reload. */
  readonly torReloaded: boolean;
}

/**
 * One process at a time (a lock in the state dir). Devices, the admin and the open join tokens keep
 * their onion keys; everything else loses them.
 * @param extraOnionClients further keys that may open the NATS onion (none in normal use).
 */
export async function syncAccess(paths: StatePaths, extraOnionClients: readonly OnionClient[] = []): Promise<AccessSync> {
  return withStateLock(paths, 'access', async () => {
    const natsReloaded = await syncNatsUsers(paths);
    // Live join tokens' one-time keys are always listed: any sync (a device added meanwhile) must keep them.
    const clientsChanged = await syncOnionClients(paths, [...(await openTokenClients(paths)), ...extraOnionClients]);
    const torReloaded = clientsChanged ? await reloadControllerTor(paths) : false;
    return { natsReloaded, torReloaded };
  });
}
