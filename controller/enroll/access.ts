/**
 * Who may reach the controller's bus. One call after any change to the set of enrolled devices (add,
 * approve, revoke) or of join tokens: the NATS users are re-rendered and reloaded, and the NATS onion's
 * client-authorization list follows (a removed key cannot even fetch the descriptor).
 */
import { syncNatsUsers } from '../nats-server/sync.ts';
import type { StatePaths } from '../state/paths.ts';

export interface AccessSync {
  /** The running nats-server confirmed the reload (false: none runs; the next `serve` reads the state). */
  readonly natsReloaded: boolean;
}

export async function syncAccess(paths: StatePaths): Promise<AccessSync> {
  return { natsReloaded: await syncNatsUsers(paths) };
}
