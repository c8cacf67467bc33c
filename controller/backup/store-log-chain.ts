/**
 * The controller's side of the store-log chains (docs/continuity.md, "Store logs: base and deltas"):
 * reading the parts the gateway stored, opening each with one age identity (checked like a backup:
 * signed by the device it came from, well formed, the part its key names), and reassembling the
 * chain an identity backup names — its base's chunks, then every delta in sequence — into the store
 * log, checked byte for byte against the tip. A chain with a missing part (a gap), a part of another
 * base, a bad signature or a result that is not the tip is refused; a restore still carries the log
 * up to a gap after a whole base (withStoreLog), never anything from a part that failed its checks.
 * Never logs or returns a part's content but the reassembled log.
 */
import type { KV } from '@nats-io/kv';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { EnvelopeError, open } from '#shared/crypto/envelope.ts';
import { STORE_LOG_MAX_BYTES, type InstanceIdentity } from '#shared/schema/identity.ts';
import { summarizeInstanceData } from '#shared/schema/instance-data.ts';
import { DOWNLOAD_MAX_PARTS, DOWNLOAD_PART_BYTES, downloadFor } from '#shared/schema/store-log-download.ts';
import { parsePartName, partName, STORE_LOG_PART_KIND, StoreLogPart, type ChainTip } from '#shared/schema/store-log-chain.ts';
import type { OpenedBackup } from './open-backups.ts';

/** The largest store log a restore reassembles (raw bytes): a bound on what a part may inflate to. */
export const STORE_LOG_RAW_MAX_BYTES = 64 * 1024 * 1024;

export interface SealedPart {
  /** `<device>.<slot>.<part>` as the gateway stored it. */
  readonly key: string;
  readonly device: string;
  readonly slot: string;
  readonly part: string;
  readonly sealed: Uint8Array;
}

export type OpenedPart = SealedPart & ({ readonly ok: true; readonly body: StoreLogPart } | { readonly ok: false; readonly problem: string });

/** `<device>.<slot>.<part>` split, or null when a key (or an exported file's name) is not one. */
export function partKey(key: string): { device: string; slot: string; part: string } | null {
  const m = /^([a-z0-9][a-z0-9-]{0,62})\.([0-9a-f]{16})\.([bd]\d{3})$/.exec(key);
  return m === null || parsePartName(m[3] ?? '') === null ? null : { device: m[1] ?? '', slot: m[2] ?? '', part: m[3] ?? '' };
}

/** Every part in the bucket (its current value per key), or those `keep` keeps (by `<device>.<slot>`). */
export async function readStoreLogBucket(kv: KV, keep: (backupKey: string) => boolean = () => true): Promise<SealedPart[]> {
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  const out: SealedPart[] = [];
  for (const key of keys.sort()) {
    const k = partKey(key);
    if (k === null || !keep(`${k.device}.${k.slot}`)) continue;
    const entry = await kv.get(key);
    if (entry === null || entry.operation !== 'PUT') continue;
    out.push({ key, ...k, sealed: entry.value });
  }
  return out;
}

/** Opens and checks one part with `identity`; never throws for a bad part (it comes back with `problem`). */
export async function openPart(p: SealedPart, identity: string, signers: ReadonlyMap<string, string>): Promise<OpenedPart> {
  const signer = signers.get(p.device);
  if (signer === undefined) return { ...p, ok: false, problem: `no signing key known for device ${p.device}` };
  try {
    const { body } = await open(p.sealed, { identity, signer, kind: STORE_LOG_PART_KIND, device: p.device, schema: StoreLogPart });
    if (body.device !== p.device) return { ...p, ok: false, problem: `it names device ${body.device}, but device ${p.device} sent it` };
    if (partName(body.part) !== p.part) return { ...p, ok: false, problem: `it is part ${partName(body.part)}, stored as ${p.part}` };
    return { ...p, ok: true, body };
  } catch (err) {
    if (err instanceof EnvelopeError) return { ...p, ok: false, problem: `${err.reason}: ${err.message}` };
    throw err;
  }
}

export interface ReassembledLog { readonly log: Buffer; readonly baseTakenAt: string; readonly tipTakenAt: string; readonly deltas: number; readonly parts: readonly string[] }

export type Reassembled =
  | ({ readonly ok: true } & ReassembledLog)
  /**
   * `prefix`: where the base was whole and only a later delta is missing (a part lost on the way, not
   * one that failed its checks), the log up to the gap — what a restore can still carry.
   */
  | { readonly ok: false; readonly problem: string; readonly prefix?: ReassembledLog };

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function inflate(data: Buffer, room: number): Buffer | null {
  try {
    return gunzipSync(data, { maxOutputLength: Math.max(1, room) });
  } catch {
    return null;
  }
}

/**
 * Rebuilds the store log `tip` names from `parts` (the opened parts of one device's slot) for the
 * identity `of`: base chunks 0…chunks-1, then deltas 1…seq, each at the offset the log has reached.
 * Refuses (ok: false, naming the part and why) a gap, a part that did not open, one of another base
 * or identity, and a result whose length or SHA-256 is not the tip's. Pure.
 */
export function reassemble(tip: ChainTip, parts: readonly OpenedPart[], of: { instance: string; fingerprint: string; epoch: number }): Reassembled {
  const byName = new Map(parts.map((p) => [p.part, p]));
  const take = (name: string): StoreLogPart | string => {
    const p = byName.get(name);
    if (p === undefined) return `gap: part ${name} is missing`;
    if (!p.ok) return `part ${name} refused: ${p.problem}`;
    if (p.body.baseId !== tip.baseId) return `gap: part ${name} belongs to another base`;
    if (p.body.instance !== of.instance || p.body.fingerprint !== of.fingerprint || p.body.epoch !== of.epoch) return `part ${name} belongs to another identity`;
    return p.body;
  };
  const used: string[] = [];
  const chunks: Buffer[] = [];
  let base: StoreLogPart | null = null;
  for (let chunk = 0; chunk < tip.chunks; chunk++) {
    const name = partName({ kind: 'base', chunk, chunks: tip.chunks });
    const body = take(name);
    if (typeof body === 'string') return { ok: false, problem: body };
    if (body.part.kind !== 'base' || body.part.chunks !== tip.chunks) return { ok: false, problem: `part ${name} is not chunk ${chunk} of ${tip.chunks}` };
    base ??= body;
    if (body.length !== base.length || body.sha256 !== base.sha256) return { ok: false, problem: `part ${name} names another base` };
    chunks.push(Buffer.from(body.data, 'base64'));
    used.push(name);
  }
  if (base === null) return { ok: false, problem: 'gap: the chain has no base' };
  let log = inflate(Buffer.concat(chunks), STORE_LOG_RAW_MAX_BYTES);
  if (log === null) return { ok: false, problem: 'the base does not decompress (or is larger than the bound)' };
  if (log.byteLength !== base.length || sha256(log) !== base.sha256) return { ok: false, problem: 'the base is not the log its parts name' };
  let tipTakenAt = base.takenAt;
  for (let seq = 1; seq <= tip.seq; seq++) {
    const name = partName({ kind: 'delta', seq, offset: 0 });
    const body = take(name);
    const prefix = { log, baseTakenAt: base.takenAt, tipTakenAt, deltas: seq - 1, parts: [...used] };
    if (typeof body === 'string') return { ok: false, problem: body, ...(body.startsWith('gap:') ? { prefix } : {}) };
    if (body.part.kind !== 'delta' || body.part.offset !== log.byteLength) return { ok: false, problem: `gap: delta ${seq} does not start where the log ends`, prefix };
    const appended = inflate(Buffer.from(body.data, 'base64'), STORE_LOG_RAW_MAX_BYTES - log.byteLength);
    if (appended === null) return { ok: false, problem: `delta ${seq} does not decompress (or the log grows beyond the bound)` };
    log = Buffer.concat([log, appended]);
    if (log.byteLength !== body.length || sha256(log) !== body.sha256) return { ok: false, problem: `delta ${seq} does not make the log it names` };
    tipTakenAt = body.takenAt;
    used.push(name);
  }
  if (log.byteLength !== tip.length || sha256(log) !== tip.sha256) return { ok: false, problem: 'the chain does not end at the tip its backup names' };
  return { ok: true, log, baseTakenAt: base.takenAt, tipTakenAt, deltas: tip.seq, parts: used };
}

/** The parts of one backup's slot (`<device>.<slot>` is the backup's key). */
export function partsOf(backupKey: string, parts: readonly OpenedPart[]): OpenedPart[] {
  return parts.filter((p) => `${p.device}.${p.slot}` === backupKey);
}

/**
 * A backup with its store log: where it names a chain, the chain reassembled from `parts` and put in
 * the identity (gzip'd, as a desired state carries it: up to STORE_LOG_MAX_BYTES, beyond that the
 * identity goes without it, `too-large`). A chain with a part that fails its checks makes the backup
 * refused; one whose base is whole but lost a later delta on the way restores the log up to the gap
 * (the address is worth more than the newest queues, and what is lost is only what followed the gap).
 */
export function withStoreLog(b: OpenedBackup, parts: readonly OpenedPart[], downloads?: Map<string, Uint8Array>): OpenedBackup {
  if (!b.ok || b.body.storeLogChain === undefined) return b;
  const id = b.body.identity;
  const r = reassemble(b.body.storeLogChain, partsOf(b.key, parts), { instance: id.instance, fingerprint: id.fingerprint, epoch: id.epoch });
  const whole = r.ok ? r : r.prefix;
  if (whole === undefined) return { key: b.key, device: b.device, sealed: b.sealed, ok: false, problem: `store log chain refused: ${r.ok ? '' : r.problem}` };
  // XFTP data (its store log and files, #shared/schema/instance-data.ts) must read back, or the restore would fail on the device.
  const unreadable = id.kind === 'xftp' ? xftpDataProblem(whole.log) : null;
  if (unreadable !== null) return { key: b.key, device: b.device, sealed: b.sealed, ok: false, problem: `store log chain refused: ${unreadable}` };
  const packed = gzipSync(whole.log);
  return { ...b, body: { ...b.body, identity: identityWithLog(id, packed, downloads) } };
}

/** Why XFTP instance data does not unpack, or null when it does. */
function xftpDataProblem(data: Buffer): string | null {
  try {
    summarizeInstanceData(data);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : 'the XFTP data does not read back';
  }
}

/**
 * `id` with its gzip'd store log: inside, up to STORE_LOG_MAX_BYTES; beyond that, with `downloads`
 * given and within a download's bound, named as a download (the bytes go into `downloads` by their
 * SHA-256: controller/apply/restore-downloads.ts puts them in the `restores` bucket for the device
 * that restores it); otherwise without it (`too-large`).
 */
function identityWithLog(id: InstanceIdentity, packed: Buffer, downloads: Map<string, Uint8Array> | undefined): InstanceIdentity {
  if (packed.byteLength <= STORE_LOG_MAX_BYTES) return { ...id, storeLog: packed.toString('base64'), storeLogNote: 'included' };
  if (downloads === undefined || packed.byteLength > DOWNLOAD_PART_BYTES * DOWNLOAD_MAX_PARTS) return { ...id, storeLog: null, storeLogNote: 'too-large' };
  const sha256 = createHash('sha256').update(packed).digest('hex');
  downloads.set(sha256, packed);
  return { ...id, storeLog: null, storeLogNote: 'fetch', storeLogDownload: downloadFor(sha256, packed.byteLength) };
}
