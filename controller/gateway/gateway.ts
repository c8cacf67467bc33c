/**
 * `serve`'s gateway: the only reader of what devices and join tokens send, and the only writer of
 * what they hear (docs/reference/nats.md, "Isolation by accounts"). It speaks to the parties as its
 * own NATS user, which may publish nothing but the parties' down-trees, and to the buckets through
 * the controller's session:
 * - `up.desired` → the device's desired state from the KV bucket, pushed on `down.desired` unless the
 *   device already has that revision; every change of the bucket is pushed as well;
 * - `up.status` → stored as the device's status (history 1, a plain put: no header the device sent
 *   reaches JetStream);
 * - `up.request` of a join token → the join handler's answer on `down.answer`;
 * - `up.restore` → one part of a restore download the controller wrote for that device (the
 *   `restores` bucket, only the device's own keys), on `down.restore`.
 * The party is the one in the subject, which the server stamps (a party's account exports only its
 * own subjects). Reply subjects and headers parties send are never used. Each party and kind of
 * message is rate-limited with the newest message kept ({@link LatestWinsThrottle}).
 */
import type { KV, KvEntry } from '@nats-io/kv';
import { headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { decodeDesiredRequest, REVISION_HEADER } from '#shared/nats/device-wire.ts';
import { BACKUP_MAX_BYTES, BACKUP_SLOTS_PER_DEVICE, PARTY_LIMITS, PARTY_RATE, STATUS_MAX_BYTES } from '#shared/nats/limits.ts';
import { downSubject, GATEWAY_UP_SUBJECTS, parseUpSubject, type Party } from '#shared/nats/names.ts';
import { Id } from '#shared/schema/common.ts';
import { decodeRestoreRequest, restorePartKey } from '#shared/schema/store-log-download.ts';
import { StoreLogParts, storeLogPartWork } from './store-log-parts.ts';
import { LatestWinsThrottle, type Rate } from './throttle.ts';

export interface GatewayOptions {
  /** The gateway user's connection (it may publish only to the parties' down-trees). */
  readonly nc: NatsConnection;
  /** The controller session's buckets. */
  readonly desired: KV;
  readonly status: KV;
  /** The backups bucket (absent: backups are dropped, as by a gateway that predates them). */
  readonly backups?: KV;
  /** The store-logs bucket: the parts of the store-log chains (absent: parts are dropped). */
  readonly storeLogs?: KV;
  /** The restores bucket: downloads sealed to the devices (absent: no part is ever sent). */
  readonly restores?: KV;
  /**
   * Answers one join request of token `token` (the handler checks it); `send` publishes the answer
   * to that token's down-tree and resolves once the server has it. Called one request at a time.
   */
  readonly onJoin: (token: string, data: Uint8Array, send: (answer: Uint8Array) => Promise<void>) => Promise<void>;
  /** One line per event worth an admin's eye; never a payload, address or key. */
  readonly log: (line: string) => void;
  readonly rate?: Rate;
}

export interface Gateway {
  /** Stops listening and watching; resolves once running actions have finished. Never throws. */
  stop(): Promise<void>;
}

type Work = { readonly op: 'desired'; readonly have: number | null } | { readonly op: 'status'; readonly data: Uint8Array } | { readonly op: 'join'; readonly data: Uint8Array }
  | { readonly op: 'backup'; readonly slot: string; readonly data: Uint8Array }
  | { readonly op: 'backup'; readonly slot: string; readonly part: string; readonly data: Uint8Array }
  | { readonly op: 'restore'; readonly ref: string; readonly index: number };

/** How often one party's trouble of one kind (too fast, malformed) is named in the log. */
const LOG_EVERY_MS = 60_000;

/**
 * Subscribes to the parties' up-trees, then watches the desired bucket (its current values first),
 * so a device that asked before the watch started is answered by the watch, and one that asks later
 * by its request. Throws when the subscriptions or the watch cannot be set up.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { nc, log } = options;
  // One line per party and kind of trouble a minute: a flood must not become a flood of log lines.
  const lastLogged = new Map<string, number>();
  const logOncePerMinute = (key: string, line: string): void => {
    const now = Date.now();
    if (now - (lastLogged.get(key) ?? -Infinity) < LOG_EVERY_MS) return;
    lastLogged.set(key, now);
    log(line);
  };
  const pushed = new PushedRevisions();
  const slots = new Map<string, Set<string>>();
  const storeLogs = new StoreLogParts(options);
  let joins: Promise<void> = Promise.resolve();
  const throttle = new LatestWinsThrottle<Work>({
    rate: options.rate ?? PARTY_RATE,
    act: (key, work) => {
      const party = partyOfKey(key);
      if (work.op === 'desired') return answerDesired(options, pushed, party.id, work.have);
      if (work.op === 'status') return storeStatus(options, party.id, work.data);
      if (work.op === 'restore') {
        return sendRestorePart(options, party.id, work.ref, work.index).then((sent) => {
          // A device asking for parts it has none of (or a flood of such asks) costs one line a minute.
          if (!sent) logOncePerMinute(`${key}/missing`, `gateway: device ${party.id} asked for a restore download part it has none of (${work.ref}, part ${work.index}); more such asks are not logged for a minute`);
        });
      }
      if (work.op === 'backup' && 'part' in work) return storeLogs.store(party.id, work.slot, work.part, work.data);
      if (work.op === 'backup') return storeLogs.after(party.id, () => storeBackup(options, slots, party.id, work.slot, work.data));
      // Join requests one at a time over all tokens: a token or a device id cannot be taken twice by racing requests.
      const next = joins.then(() => options.onJoin(party.id, work.data, async (answer) => {
        nc.publish(downSubject(party, 'answer'), answer);
        await nc.flush();
      }));
      joins = next.catch(() => undefined);
      return next;
    },
    onError: (key, err) => { log(`gateway: ${describeKey(key)}: ${err instanceof Error ? err.message : String(err)}`); },
    onReplaced: (key) => {
      logOncePerMinute(`${key}/replaced`, `gateway: ${describeKey(key)} arrive faster than ${options.rate?.everyMs ?? PARTY_RATE.everyMs} ms apart: only the newest is kept`);
    },
  });
  const onMessage = (msg: Msg): void => {
    const parsed = parseUpSubject(msg.subject);
    if (parsed === null) return;
    const { party, op } = parsed;
    const work = toWork(party, op, msg.data);
    if (work === null) {
      logOncePerMinute(`${party.kind}/${party.id}/malformed`, `gateway: dropped a malformed or unknown message from ${party.kind} ${party.id} (${op}, ${msg.data.byteLength} bytes); more are dropped without a word for a minute`);
      return;
    }
    throttle.offer(work.op === 'backup' ? `${keyOf(party, work.op)}-${work.slot}${'part' in work ? `.${work.part}` : ''}` : keyOf(party, work.op), work);
  };
  const subs: Subscription[] = GATEWAY_UP_SUBJECTS.map((subject) => nc.subscribe(subject, { callback: (err, msg) => { if (err === null) onMessage(msg); } }));
  await nc.flush();
  const watch = await options.desired.watch({ key: '>' });
  const pushing = (async () => {
    for await (const entry of watch) pushDesired(nc, pushed, entry);
  })().catch((err: unknown) => { log(`gateway: the desired bucket's watch ended: ${err instanceof Error ? err.message : String(err)}`); });
  return {
    async stop() {
      for (const sub of subs) sub.unsubscribe();
      watch.stop();
      await pushing;
      await throttle.stop();
      await joins;
    },
  };
}

/** The work a message asks for, or null when it is not one the party may send (or not well formed). */
function toWork(party: Party, op: string, data: Uint8Array): Work | null {
  if (party.kind === 'join') {
    return op === 'request' && data.byteLength <= PARTY_LIMITS.join.maxPayload ? { op: 'join', data } : null;
  }
  if (op === 'status') return data.byteLength > 0 && data.byteLength <= STATUS_MAX_BYTES ? { op: 'status', data } : null;
  if (op === 'backup') {
    // A 16-hex slot naming the instance opaquely, then the sealed backup (docs/continuity.md).
    const slot = new TextDecoder().decode(data.subarray(0, BACKUP_SLOT_CHARS));
    // A store-log chain's part: `.` and its 4-character name after the slot (a sealed file starts with `age`).
    if (data[BACKUP_SLOT_CHARS] === 0x2e) return storeLogPartWork(slot, data.subarray(BACKUP_SLOT_CHARS));
    const sealed = data.subarray(BACKUP_SLOT_CHARS);
    return /^[0-9a-f]{16}$/.test(slot) && sealed.byteLength > 0 && sealed.byteLength <= BACKUP_MAX_BYTES ? { op: 'backup', slot, data: sealed } : null;
  }
  if (op === 'restore') {
    const request = decodeRestoreRequest(data);
    return request === null ? null : { op: 'restore', ref: request.ref, index: request.index };
  }
  if (op === 'desired') {
    const request = decodeDesiredRequest(data);
    return request === null ? null : { op: 'desired', have: request.have };
  }
  return null;
}

function keyOf(party: Party, op: Work['op']): string {
  return `${party.kind}/${party.id}/${op}`;
}

function partyOfKey(key: string): Party {
  const [kind, id = ''] = key.split('/');
  return kind === 'join' ? { kind, id } : { kind: 'device', id };
}

function describeKey(key: string): string {
  const [kind, id, op] = key.split('/');
  const what = op === 'status' ? 'statuses' : op?.startsWith('backup') === true ? 'backups' : op === 'restore' ? 'restore downloads' : 'desired-state requests';
  return kind === 'join' ? `join requests of token ${id ?? ''}` : `${what} of device ${id ?? ''}`;
}

/**
 * The newest KV revision published to each device. A request's answer reads the bucket and may be
 * overtaken by the watch's push of a newer revision meanwhile: it is not sent then, so a device
 * never hears an older desired state after a newer one.
 */
class PushedRevisions {
  readonly #latest = new Map<string, number>();
  /** True (and recorded) when `revision` is not older than what `device` was last sent. */
  claim(device: string, revision: number): boolean {
    if (revision < (this.#latest.get(device) ?? 0)) return false;
    this.#latest.set(device, revision);
    return true;
  }
}

async function answerDesired(options: GatewayOptions, pushed: PushedRevisions, device: string, have: number | null): Promise<void> {
  const entry = await options.desired.get(device);
  const revision = entry?.revision ?? 0;
  if (have === revision || !pushed.claim(device, revision)) return;
  publishDesired(options.nc, device, entry !== null && entry.operation === 'PUT' ? entry.value : null, revision);
}

async function storeStatus(options: GatewayOptions, device: string, data: Uint8Array): Promise<void> {
  await options.status.put(device, data);
}

const BACKUP_SLOT_CHARS = 16;

/**
 * Stores a sealed backup as `<device>.<slot>` (history 3), unless the device already fills
 * {@link BACKUP_SLOTS_PER_DEVICE} other slots: a device cannot grow the bucket without bound.
 */
async function storeBackup(options: GatewayOptions, slots: Map<string, Set<string>>, device: string, slot: string, data: Uint8Array): Promise<void> {
  const kv = options.backups;
  if (kv === undefined) return;
  let held = slots.get(device);
  if (held === undefined) {
    held = new Set<string>();
    for await (const key of await kv.keys(`${device}.*`)) held.add(key.slice(device.length + 1));
    slots.set(device, held);
  }
  if (!held.has(slot) && held.size >= BACKUP_SLOTS_PER_DEVICE) throw new Error(`device ${device} holds ${BACKUP_SLOTS_PER_DEVICE} backup slots already: backup dropped`);
  await kv.put(`${device}.${slot}`, data);
  held.add(slot);
}

/** Sends `device` part `index` of its download `ref`, as the controller sealed it to the device; false when it has no such part. */
async function sendRestorePart(options: GatewayOptions, device: string, ref: string, index: number): Promise<boolean> {
  const entry = await options.restores?.get(restorePartKey(device, ref, index));
  if (entry === null || entry === undefined || entry.operation !== 'PUT') return false;
  options.nc.publish(downSubject({ kind: 'device', id: device }, 'restore'), entry.value);
  return true;
}

function pushDesired(nc: NatsConnection, pushed: PushedRevisions, entry: KvEntry): void {
  if (!Id.safeParse(entry.key).success || !pushed.claim(entry.key, entry.revision)) return;
  publishDesired(nc, entry.key, entry.operation === 'PUT' ? entry.value : null, entry.revision);
}

function publishDesired(nc: NatsConnection, device: string, value: Uint8Array | null, revision: number): void {
  const h = headers();
  h.set(REVISION_HEADER, String(revision));
  nc.publish(downSubject({ kind: 'device', id: device }, 'desired'), value ?? new Uint8Array(), { headers: h });
}
