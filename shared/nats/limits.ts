/**
 * The bounds every party lives within on the bus, in one place: the server enforces the account
 * limits (docs/reference/nats.md), `serve`'s gateway the sizes and rates. Pure data.
 */

/**
 * What one party's account may hold. A device: its agent plus connections Tor has not yet noticed
 * are dead (an old circuit can linger for up to 3 pings), its one subscription plus spares, and
 * messages of at most `maxPayload` bytes (a sealed status with room to grow). A join token: one request.
 */
/**
 * The largest sealed backup a device sends (one instance's identity and its gzip'd store log of at
 * most 256 KiB, base64 inside age): 512 KiB. With its 16-byte slot this sets a device's max_payload.
 */
export const BACKUP_MAX_BYTES = 512 * 1024;
/**
 * The most the store-log chains hold in all (the `store-logs` bucket; a part beyond it is refused and
 * the next base heals): half the controller's JetStream file store (1 GiB), so chains can never crowd
 * out desired states, statuses and identity backups. One instance's chain is at most a base of 16
 * chunks (4 MiB compressed) and deltas adding up to no more than the base: about 8 MiB.
 */
export const STORE_LOGS_MAX_BYTES = 512 * 1024 * 1024;
/**
 * The most the restore downloads hold in all (the `restores` bucket): a quarter of the controller's
 * JetStream file store, beside the chains' half. One download is at most 8 MiB (what one chain can
 * rebuild), and a device's downloads are dropped once its desired state no longer names them: 32
 * instances moving at once, each with the largest log, fit.
 */
export const RESTORES_MAX_BYTES = 256 * 1024 * 1024;
/** Backup slots (instances) one device may fill in the backups bucket. */
export const BACKUP_SLOTS_PER_DEVICE = 64;

export const PARTY_LIMITS = {
  device: { maxConnections: 4, maxSubscriptions: 4, maxPayload: BACKUP_MAX_BYTES + 1024 },
  join: { maxConnections: 2, maxSubscriptions: 4, maxPayload: 16 * 1024 },
} as const;

/** The largest status the gateway stores (the status bucket's `max_value_size` too). */
export const STATUS_MAX_BYTES = 128 * 1024;

/**
 * How often one party's messages are acted on, per kind of message: a burst of `burst`, then one
 * every `everyMs`. Beyond it the gateway keeps only the newest message of that kind and acts on it
 * when the next turn comes, so the last status always lands and a flood costs one buffer.
 */
export const PARTY_RATE = { burst: 10, everyMs: 1_000 } as const;
