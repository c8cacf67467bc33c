/**
 * The agent's side of the incremental store log (docs/continuity.md, "Store logs: base and deltas"):
 * what to send of an SMP store log, given what was sent before. The log is append-only between server
 * restarts (a restart compacts it), so while the file still starts with what was sent — checked by the
 * SHA-256 of the sent prefix — only the appended bytes go, as a delta numbered against its base. A
 * compaction, a restore, another identity, deltas that add up to more than the base or
 * STORE_LOG_MAX_DELTAS of them: a new base, cut into chunks. Pure but for the random base id.
 */
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import { BaseId, STORE_LOG_CHUNK_BYTES, STORE_LOG_MAX_CHUNKS, STORE_LOG_MAX_DELTAS, type ChainTip, type StoreLogPart } from '#shared/schema/store-log-chain.ts';

/** What the device remembers of the chain it sent for one instance (in its backup state, 0600). */
export const ChainState = z.strictObject({
  baseId: BaseId,
  chunks: z.int().min(1),
  /** The base's compressed bytes, and the deltas' since. */
  baseBytes: z.int().min(0),
  deltaBytes: z.int().min(0),
  seq: z.int().min(0),
  /** The raw log sent so far: its length and the SHA-256 of those bytes. */
  length: z.int().min(0),
  sha256: z.string(),
  fingerprint: z.string(),
  epoch: z.int(),
});
export type ChainState = z.infer<typeof ChainState>;

/** Why a new base goes (named in the agent's log line). */
export type BaseReason = 'first' | 'rewritten' | 'identity' | 'deltas-full';

export type StoreLogPlan =
  | { readonly kind: 'unchanged'; readonly tip: ChainTip }
  | { readonly kind: 'too-large'; readonly compressedBytes: number }
  | { readonly kind: 'base' | 'delta'; readonly reason: BaseReason | 'appended'; readonly parts: readonly PartData[]; readonly state: ChainState; readonly tip: ChainTip };

/** One part to seal: the body without device, instance and time (the sender adds them). */
export type PartData = Pick<StoreLogPart, 'baseId' | 'part' | 'length' | 'sha256' | 'data'>;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const tipOf = (s: ChainState): ChainTip => ({ baseId: s.baseId, seq: s.seq, chunks: s.chunks, length: s.length, sha256: s.sha256 });

/**
 * What to send of `log` (the whole store log as it is now) for the identity `id`, after `sent`
 * (undefined: nothing sent yet). `newBaseId` makes a base's id (tests pass a fixed one).
 */
export function planStoreLog(log: Buffer, sent: ChainState | undefined, id: { fingerprint: string; epoch: number },
  newBaseId: () => string = () => randomBytes(8).toString('hex')): StoreLogPlan {
  let reason: BaseReason = 'first';
  if (sent !== undefined) {
    const same = sent.fingerprint === id.fingerprint && sent.epoch === id.epoch;
    const extends_ = same && log.byteLength >= sent.length && sha256(log.subarray(0, sent.length)) === sent.sha256;
    reason = !same ? 'identity' : !extends_ ? 'rewritten' : 'deltas-full';
    if (extends_ && log.byteLength === sent.length) return { kind: 'unchanged', tip: tipOf(sent) };
    if (extends_) {
      const packed = gzipSync(log.subarray(sent.length));
      if (sent.seq < STORE_LOG_MAX_DELTAS && packed.byteLength <= STORE_LOG_CHUNK_BYTES && sent.deltaBytes + packed.byteLength <= sent.baseBytes) {
        const state: ChainState = { ...sent, seq: sent.seq + 1, deltaBytes: sent.deltaBytes + packed.byteLength, length: log.byteLength, sha256: sha256(log) };
        const part: PartData = { baseId: sent.baseId, part: { kind: 'delta', seq: state.seq, offset: sent.length }, length: state.length, sha256: state.sha256, data: packed.toString('base64') };
        return { kind: 'delta', reason: 'appended', parts: [part], state, tip: tipOf(state) };
      }
    }
  }
  const packed = gzipSync(log);
  const chunks = Math.max(1, Math.ceil(packed.byteLength / STORE_LOG_CHUNK_BYTES));
  if (chunks > STORE_LOG_MAX_CHUNKS) return { kind: 'too-large', compressedBytes: packed.byteLength };
  const state: ChainState = { baseId: newBaseId(), chunks, baseBytes: packed.byteLength, deltaBytes: 0, seq: 0, length: log.byteLength, sha256: sha256(log), fingerprint: id.fingerprint, epoch: id.epoch };
  const parts: PartData[] = [];
  for (let chunk = 0; chunk < chunks; chunk++) {
    const data = packed.subarray(chunk * STORE_LOG_CHUNK_BYTES, (chunk + 1) * STORE_LOG_CHUNK_BYTES).toString('base64');
    parts.push({ baseId: state.baseId, part: { kind: 'base', chunk, chunks }, length: state.length, sha256: state.sha256, data });
  }
  return { kind: 'base', reason, parts, state, tip: tipOf(state) };
}
