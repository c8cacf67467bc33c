/**
 * The controller's connection to its own NATS: the desired and status buckets, and a
 * controller-only bucket holding what was applied (the placement and a copy of each device's
 * desired state), sealed to the controller itself — the bus reads none of it.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import { connectNats, NatsUnreachableError } from '#shared/nats/connect.ts';
import { openBackups, openBucket, openDesired, openStatus, openStoreLogs, openRestores } from '#shared/nats/kv.ts';
import { readRuntime } from '../nats-server/sync.ts';
import { loadIdentity, type ControllerIdentity } from '../state/identity.ts';
import { loadSecrets, type ControllerSecrets } from '../state/keys.ts';
import type { StatePaths } from '../state/paths.ts';

/** The controller-only bucket (agents have no permission on it). */
export const CONTROLLER_BUCKET = 'controller';

export interface ControllerSession {
  readonly nc: NatsConnection;
  readonly desired: KV;
  readonly status: KV;
  readonly own: KV;
  /** Sealed backups as the gateway stored them (docs/continuity.md). */
  readonly backups: KV;
  /** The store-log chains' parts as the gateway stored them (docs/continuity.md). */
  readonly storeLogs: KV;
  /** Restore downloads the controller wrote for the devices (shared/schema/store-log-download.ts). */
  readonly restores: KV;
  readonly identity: ControllerIdentity;
  readonly secrets: ControllerSecrets;
  close(): Promise<void>;
}

/** Connects to the server `onionfleet serve` runs; exit 4 with a hint when none does. */
export async function openSession(paths: StatePaths, passphrase: string | null, options: { create?: boolean; secrets?: ControllerSecrets } = {}): Promise<ControllerSession> {
  const identity = await loadIdentity(paths);
  const secrets = options.secrets ?? await loadSecrets(paths, passphrase);
  const runtime = await readRuntime(paths);
  if (runtime === null) {
    throw new NatsUnreachableError(`NATS is not running for ${paths.dir}`, { hint: 'start it with `onionfleet serve` (in another terminal, or as a service)' });
  }
  // One attempt: a CLI command should say "not running" at once, not retry for minutes.
  const nc = await connectNats({ servers: runtime.url, nkeySeed: secrets.natsSeed, name: 'onionfleet-controller', timeoutMs: 10_000, reconnect: false });
  const create = options.create ?? false;
  const [desired, status, own, backups, storeLogs, restores] = await Promise.all([openDesired(nc, { create }), openStatus(nc, { create }), openBucket(nc, CONTROLLER_BUCKET, { create, history: 5 }),
    openBackups(nc, { create }), openStoreLogs(nc, { create }), openRestores(nc, { create })]);
  return { nc, desired, status, own, backups, storeLogs, restores, identity, secrets, close: () => nc.close() };
}
