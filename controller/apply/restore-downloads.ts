/**
 * The controller's side of restore downloads (docs/continuity.md, "Restores larger than a desired
 * state"): before a device's desired state is put, the gzip'd store logs its identities name as
 * downloads are cut into parts, each sealed to that device and signed by the controller, and put in
 * the `restores` bucket as `<device>.<ref>.<part>`; the device's parts its state no longer names are
 * purged. Where there is no bucket (an offline apply) the identity goes without its store log
 * (`too-large`), as before there were downloads.
 */
import type { KV } from '@nats-io/kv';
import { seal } from '#shared/crypto/envelope.ts';
import type { DesiredState } from '#shared/schema/desired-state.ts';
import type { InstanceIdentity } from '#shared/schema/identity.ts';
import { DOWNLOAD_PART_BYTES, refOf, RESTORE_PART_KIND, restorePartKey, type RestorePart } from '#shared/schema/store-log-download.ts';

export interface DownloadKeys {
  readonly signingSecretKey: string;
  /** The device's age recipient: the parts are sealed to it alone. */
  readonly recipient: string;
}

/** An identity without its store log, for a device that cannot download it. */
function withoutDownload(identity: InstanceIdentity): InstanceIdentity {
  const rest: InstanceIdentity = { ...identity, storeLog: null, storeLogNote: 'too-large' };
  delete rest.storeLogDownload;
  return rest;
}

/**
 * Makes sure every download `state` names is in `kv` for `device` (written from `logs`, gzip'd log by
 * its SHA-256, when a part is missing) and drops the device's other parts. Returns the state to put:
 * unchanged, or — no bucket, or a download whose bytes are neither stored nor given — with those
 * identities going without their store log.
 */
export async function prepareDownloads(kv: KV | undefined, device: string, state: DesiredState, logs: ReadonlyMap<string, Uint8Array>, keys: DownloadKeys): Promise<DesiredState> {
  const named = state.instances.flatMap((i) => (i.identity?.storeLogNote === 'fetch' && i.identity.storeLogDownload !== undefined ? [i.identity] : []));
  if (kv === undefined) {
    if (named.length === 0) return state;
    return { ...state, instances: state.instances.map((i) => (i.identity?.storeLogNote === 'fetch' ? { ...i, identity: withoutDownload(i.identity) } : i)) };
  }
  const have = new Set<string>();
  for await (const key of await kv.keys(`${device}.*.*`)) have.add(key);
  const keep = new Set<string>();
  const unavailable = new Set<string>();
  for (const identity of named) {
    const download = identity.storeLogDownload;
    if (download === undefined) continue;
    const ref = refOf(download);
    const keysOf = Array.from({ length: download.parts }, (_, n) => restorePartKey(device, ref, n));
    keysOf.forEach((k) => keep.add(k));
    if (keysOf.every((k) => have.has(k))) continue;
    const log = logs.get(download.sha256);
    if (log === undefined) {
      unavailable.add(identity.instance);
      continue;
    }
    for (let index = 0; index < download.parts; index++) {
      const body: RestorePart = { device, ref, index, parts: download.parts, data: Buffer.from(log.subarray(index * DOWNLOAD_PART_BYTES, (index + 1) * DOWNLOAD_PART_BYTES)).toString('base64') };
      await kv.put(restorePartKey(device, ref, index), await seal({ kind: RESTORE_PART_KIND, device, revision: index, body }, keys));
    }
  }
  for (const key of have) if (!keep.has(key)) await kv.purge(key);
  if (unavailable.size === 0) return state;
  return { ...state, instances: state.instances.map((i) => (i.identity !== undefined && unavailable.has(i.id) ? { ...i, identity: withoutDownload(i.identity) } : i)) };
}

