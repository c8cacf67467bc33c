/**
 * The JetStream store across the move to accounts: before it, the controller's buckets lived in the
 * global account `$G`; now they are the CONTROL account's. nats-server keeps each account's streams
 * in `<store>/jetstream/<account>/`, so the move is one rename (checked on 2.9.10: the buckets, their
 * values and revisions come back unchanged).
 */
import { rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CONTROL_ACCOUNT } from '#shared/nats/names.ts';

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** Moves `$G`'s streams to CONTROL when only the former exist. Resolves true when it moved them. Call with the server stopped. */
export async function moveStoreToControlAccount(storeDir: string): Promise<boolean> {
  const from = join(storeDir, 'jetstream', '$G');
  const to = join(storeDir, 'jetstream', CONTROL_ACCOUNT);
  if (!(await exists(from)) || (await exists(to))) return false;
  await rename(from, to);
  return true;
}
