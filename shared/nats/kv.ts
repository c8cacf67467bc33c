/**
 * The two KV buckets and the few operations onionfleet needs on them, in the shapes nats-server 2.9
 * supports (docs/reference/nats.md, "JetStream KV on 2.9.10"): get and compare-and-set put. Only the
 * controller and `serve` touch them; devices speak through the gateway.
 */
import { jetstream, JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { EXIT, OnionfleetError, type ErrorOptions } from '../errors.ts';
import { BACKUP_MAX_BYTES, RESTORES_MAX_BYTES, STATUS_MAX_BYTES, STORE_LOGS_MAX_BYTES } from './limits.ts';
import { BACKUP_BUCKET, DESIRED_BUCKET, kvStream, RESTORE_BUCKET, STATUS_BUCKET, STORE_LOG_BUCKET } from './names.ts';

export type { KV } from '@nats-io/kv';

/** JetStream API timeout over Tor (docs/reference/nats.md): the client's default 5 s is too short for some round trips. */
export const JETSTREAM_TIMEOUT_MS = 20_000;

/** A stored value and its revision (the bucket-wide sequence; for `desired` the free generation number). */
export interface KvValue {
  readonly value: Uint8Array;
  readonly revision: number;
}

export interface OpenBucketOptions {
  /**
   * true (`serve`): create the bucket if missing, else open it (an existing bucket's settings are
   * kept). false (the controller's one-shot commands): open it — `serve` made it.
   */
  readonly create: boolean;
}

/** Someone else changed the key between our read and our compare-and-set write. Exit 1. */
export class ConcurrentUpdateError extends OnionfleetError {
  readonly code = 'concurrent-apply';
  readonly exitCode = EXIT.failed;
  readonly key: string;
  constructor(key: string, options: ErrorOptions = {}) {
    super(`the desired state of ${key} changed while this apply ran`, {
      hint: 'another `onionfleet apply` published meanwhile: run apply again (it starts from the current revisions)',
      ...options,
    });
    this.key = key;
  }
}

/** A JetStream client with the Tor-sized API timeout (`timeoutMs` smaller in tests). */
export function jetStreamFor(nc: NatsConnection, timeoutMs = JETSTREAM_TIMEOUT_MS): JetStreamClient {
  return jetstream(nc, { timeout: timeoutMs });
}

function toJetStream(jsOrNc: JetStreamClient | NatsConnection): JetStreamClient {
  return 'jetstreamManager' in jsOrNc ? jsOrNc : jetStreamFor(jsOrNc);
}

export interface BucketSettings extends OpenBucketOptions {
  /** Values kept per key. */
  readonly history: number;
  /** The largest value the stream accepts (`max_msg_size`); absent: the server's max_payload. */
  readonly maxValueSize?: number;
  /** The most bytes the bucket holds (`max_bytes`; beyond it a put is refused, nothing old is dropped); absent: no bound but the account's. */
  readonly maxBytes?: number;
}

/**
 * Creates (`create: true`) or binds to bucket `name` with `allow_direct`, so get() uses the
 * key-scoped DIRECT.GET subject. Creating an existing bucket keeps its settings, except that
 * `maxValueSize` is brought to the given value (buckets made by an older onionfleet had none).
 * Given a connection, uses {@link JETSTREAM_TIMEOUT_MS}. Throws when the server refuses to create
 * or update the bucket or JetStream is unavailable.
 */
export async function openBucket(jsOrNc: JetStreamClient | NatsConnection, name: string, settings: BucketSettings): Promise<KV> {
  const js = toJetStream(jsOrNc);
  const kvm = new Kvm(js);
  const options = { history: settings.history, allow_direct: true, ...(settings.maxValueSize === undefined ? {} : { maxValueSize: settings.maxValueSize }), ...(settings.maxBytes === undefined ? {} : { max_bytes: settings.maxBytes }) };
  if (!settings.create) return kvm.open(name, options);
  const kv = await kvm.create(name, options);
  if (settings.maxValueSize !== undefined) {
    const jsm = await js.jetstreamManager();
    const info = await jsm.streams.info(kvStream(name));
    if (info.config.max_msg_size !== settings.maxValueSize) await jsm.streams.update(kvStream(name), { ...info.config, max_msg_size: settings.maxValueSize });
  }
  return kv;
}

/**
 * The `desired` bucket: history 10, written by the controller only (agents hear their key through
 * `serve`'s gateway). Given a connection, uses {@link JETSTREAM_TIMEOUT_MS}. Throws when the server
 * refuses to create the bucket (`create: true`) or JetStream is unavailable.
 */
export function openDesired(jsOrNc: JetStreamClient | NatsConnection, options: OpenBucketOptions): Promise<KV> {
  return openBucket(jsOrNc, DESIRED_BUCKET, { create: options.create, history: 10 });
}

/**
 * The `status` bucket: history 1 (a status is a level, and its periodic re-put the heartbeat), values
 * of at most {@link STATUS_MAX_BYTES}; written by `serve`'s gateway only, one key per device. Throws
 * like {@link openDesired}.
 */
export function openStatus(jsOrNc: JetStreamClient | NatsConnection, options: OpenBucketOptions): Promise<KV> {
  return openBucket(jsOrNc, STATUS_BUCKET, { create: options.create, history: 1, maxValueSize: STATUS_MAX_BYTES });
}

function toValue(entry: KvEntry | null): KvValue | null {
  if (entry === null || entry.operation !== 'PUT') return null;
  return { value: entry.value, revision: entry.revision };
}

/**
 * The current value of `key`, or null when it was never written, or was deleted or purged.
 * Throws on a timeout or closed connection, and with a PermissionViolationError (promptly: the
 * server answers a forbidden request with an error) when the user may not read `key`.
 */
export async function getEntry(kv: KV, key: string): Promise<KvValue | null> {
  return toValue(await kv.get(key));
}

/**
 * Writes `value` only if `key` is still at `expectedRevision` (null: only if the key does not exist,
 * or was deleted). Returns the new revision. Throws {@link ConcurrentUpdateError} when the key moved
 * on meanwhile, and the underlying error for anything else (permission, timeout, closed connection).
 */
export async function putIfRevision(kv: KV, key: string, value: Uint8Array, expectedRevision: number | null): Promise<number> {
  try {
    return expectedRevision === null ? await kv.create(key, value) : await kv.update(key, value, expectedRevision);
  } catch (err) {
    if (err instanceof JetStreamApiError
      && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)) {
      throw new ConcurrentUpdateError(key, { cause: err });
    }
    throw err;
  }
}

/**
 * The `backups` bucket: sealed backups as `serve`'s gateway stored them, key `<device>.<slot>`,
 * history 3, values of at most {@link BACKUP_MAX_BYTES}. Throws like {@link openDesired}.
 */
export function openBackups(jsOrNc: JetStreamClient | NatsConnection, options: OpenBucketOptions): Promise<KV> {
  return openBucket(jsOrNc, BACKUP_BUCKET, { create: options.create, history: 3, maxValueSize: BACKUP_MAX_BYTES });
}

/**
 * The `store-logs` bucket: the parts of the store-log chains as `serve`'s gateway stored them, key
 * `<device>.<slot>.<part>`, history 1 (a part is replaced, never versioned), values of at most
 * {@link BACKUP_MAX_BYTES}, at most {@link STORE_LOGS_MAX_BYTES} in all. Throws like {@link openDesired}.
 */
export function openStoreLogs(jsOrNc: JetStreamClient | NatsConnection, options: OpenBucketOptions): Promise<KV> {
  return openBucket(jsOrNc, STORE_LOG_BUCKET, { create: options.create, history: 1, maxValueSize: BACKUP_MAX_BYTES, maxBytes: STORE_LOGS_MAX_BYTES });
}

/**
 * The `restores` bucket: store logs too large for a desired state, cut into parts sealed to the device
 * that restores them (shared/schema/store-log-download.ts), key `<device>.<ref>.<part>`, history 1,
 * values of at most {@link BACKUP_MAX_BYTES}, at most {@link RESTORES_MAX_BYTES} in all. Throws like {@link openDesired}.
 */
export function openRestores(jsOrNc: JetStreamClient | NatsConnection, options: OpenBucketOptions): Promise<KV> {
  return openBucket(jsOrNc, RESTORE_BUCKET, { create: options.create, history: 1, maxValueSize: BACKUP_MAX_BYTES, maxBytes: RESTORES_MAX_BYTES });
}
