/**
 * The SMP store log as an incremental chain (docs/continuity.md, "Store logs: base and deltas"): a
 * **base** (the whole log, gzip-compressed, cut into chunks) and then **deltas** (gzip of only the
 * bytes appended since the last part), each part a sealed document of its own, numbered against its
 * base. The identity backup that follows names the chain's tip (its manifest), so a restore knows
 * what it must reassemble and can check the result byte for byte. Pure: schemas, names and bounds.
 */
import { z } from 'zod';
import { Id } from './common.ts';

/** The sealed document kind of one chain part (inside the signature). */
export const STORE_LOG_PART_KIND = 'store-log';
/** The most compressed bytes one part carries (base64 inside age, one sealed part stays under BACKUP_MAX_BYTES). */
export const STORE_LOG_CHUNK_BYTES = 256 * 1024;
/** The most chunks a base is cut into: a store log of at most 4 MiB compressed is backed up; a larger one is left out (`too-large`). */
export const STORE_LOG_MAX_CHUNKS = 16;
/** The most deltas on one base; the next change then sends a new base (so does deltas adding up to more than the base). */
export const STORE_LOG_MAX_DELTAS = 32;

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
/** A base's id: 16 hex characters, random per base (a new base after a compaction or restore has another). */
export const BaseId = z.string().regex(/^[0-9a-f]{16}$/);
const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, { error: 'expected base64' });

/** Where a chain ends: what a restore must rebuild (the raw log's length and SHA-256). */
export const ChainTip = z.strictObject({
  baseId: BaseId,
  /** The newest delta's number (0: the base alone). */
  seq: z.int().min(0).max(STORE_LOG_MAX_DELTAS),
  /** The base's chunk count. */
  chunks: z.int().min(1).max(STORE_LOG_MAX_CHUNKS),
  length: z.int().min(0),
  sha256: Sha256,
});
export type ChainTip = z.infer<typeof ChainTip>;

/** The body of one sealed part. */
export const StoreLogPart = z.strictObject({
  device: Id,
  instance: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}-(?:smp|xftp)-\d{2,}$/),
  /** The identity the log belongs to (a restore takes the chain of the identity it restores). */
  fingerprint: z.string().regex(/^[A-Za-z0-9_-]{43}=$/),
  epoch: z.int().min(1),
  /** When the device read the log (ISO 8601). */
  takenAt: z.iso.datetime(),
  baseId: BaseId,
  part: z.discriminatedUnion('kind', [
    /** Chunk `chunk` of `chunks` of the gzip'd whole log; `length`/`sha256` are the raw log's. */
    z.strictObject({ kind: z.literal('base'), chunk: z.int().min(0).max(STORE_LOG_MAX_CHUNKS - 1), chunks: z.int().min(1).max(STORE_LOG_MAX_CHUNKS) }),
    /** Delta `seq` (1…): gzip of the bytes appended at `offset`. */
    z.strictObject({ kind: z.literal('delta'), seq: z.int().min(1).max(STORE_LOG_MAX_DELTAS), offset: z.int().min(0) }),
  ]),
  /** The raw log's length and SHA-256 once this part is applied (a base chunk: the whole base's). */
  length: z.int().min(0),
  sha256: Sha256,
  data: Base64.max(Math.ceil(STORE_LOG_CHUNK_BYTES / 3) * 4),
});
export type StoreLogPart = z.infer<typeof StoreLogPart>;

/**
 * The name of a part beside its instance's slot, on the wire and as a key: `b000`… for base chunks,
 * `d001`… for deltas. Fixed width, so the gateway can frame it without opening anything.
 */
export function partName(part: StoreLogPart['part']): string {
  return part.kind === 'base' ? `b${String(part.chunk).padStart(3, '0')}` : `d${String(part.seq).padStart(3, '0')}`;
}

/** A part name's kind and number, or null when it is not one (bounds included). */
export function parsePartName(name: string): { kind: 'base'; chunk: number } | { kind: 'delta'; seq: number } | null {
  const m = /^([bd])(\d{3})$/.exec(name);
  if (m === null) return null;
  const n = Number(m[2]);
  if (m[1] === 'b') return n < STORE_LOG_MAX_CHUNKS ? { kind: 'base', chunk: n } : null;
  return n >= 1 && n <= STORE_LOG_MAX_DELTAS ? { kind: 'delta', seq: n } : null;
}
