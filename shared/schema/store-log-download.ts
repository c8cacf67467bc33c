/**
 * A store log too large to ride inside a desired state (docs/continuity.md, "Restores larger than a
 * desired state"): the controller cuts the gzip'd log it reassembled into parts, seals each to the
 * device that takes the instance over (kind {@link RESTORE_PART_KIND}, signed by the controller), and
 * puts them in the `restores` bucket; the desired state's identity names the download
 * ({@link StoreLogDownload}: its SHA-256, length and part count), so what the device fetches through
 * the gateway is checked against what the controller signed. Pure: schemas, names and bounds.
 */
import { z } from 'zod';
import { Id } from './common.ts';
import { STORE_LOG_CHUNK_BYTES } from './store-log-chain.ts';

/** The sealed document kind of one download part (inside the signature). */
export const RESTORE_PART_KIND = 'restore-part';
/** The most gzip'd bytes one part carries (as a chain's part: one sealed part stays under BACKUP_MAX_BYTES). */
export const DOWNLOAD_PART_BYTES = STORE_LOG_CHUNK_BYTES;
/**
 * The most parts one download has: 32 × 256 KiB = 8 MiB gzip'd, what one instance's chain can hold
 * at most (a base of 16 chunks and deltas adding up to no more than the base).
 */
export const DOWNLOAD_MAX_PARTS = 32;

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, { error: 'expected base64' });
/** A download's reference: the first 16 hex characters of its SHA-256 (a key token in the bucket, a subject-safe name). */
export const DownloadRef = z.string().regex(/^[0-9a-f]{16}$/);

/** What a desired state's identity says about its store log's download (with `storeLogNote: fetch`). */
export const StoreLogDownload = z.strictObject({
  /** SHA-256 of the gzip'd log: the parts put together must have it. */
  sha256: Sha256,
  /** The gzip'd log's length in bytes. */
  bytes: z.int().min(1).max(DOWNLOAD_PART_BYTES * DOWNLOAD_MAX_PARTS),
  parts: z.int().min(1).max(DOWNLOAD_MAX_PARTS),
});
export type StoreLogDownload = z.infer<typeof StoreLogDownload>;

/** The body of one sealed part. */
export const RestorePart = z.strictObject({
  /** The device it is sealed to (the envelope says so too). */
  device: Id,
  ref: DownloadRef,
  index: z.int().min(0).max(DOWNLOAD_MAX_PARTS - 1),
  parts: z.int().min(1).max(DOWNLOAD_MAX_PARTS),
  data: Base64.max(Math.ceil(DOWNLOAD_PART_BYTES / 3) * 4),
});
export type RestorePart = z.infer<typeof RestorePart>;

/** The download of a gzip'd log of `bytes` bytes with this SHA-256 (hex). */
export function downloadFor(sha256: string, bytes: number): StoreLogDownload {
  return { sha256, bytes, parts: Math.max(1, Math.ceil(bytes / DOWNLOAD_PART_BYTES)) };
}

/** The downloads the identities of a desired state's instances name (with `storeLogNote: fetch`). */
export function downloadsIn(desired: { readonly instances: readonly { readonly identity?: { readonly storeLogNote: string; readonly storeLogDownload?: StoreLogDownload | undefined } | undefined }[] }): StoreLogDownload[] {
  return desired.instances.flatMap((i) => (i.identity?.storeLogNote === 'fetch' && i.identity.storeLogDownload !== undefined ? [i.identity.storeLogDownload] : []));
}

/** A download's reference. */
export const refOf = (download: Pick<StoreLogDownload, 'sha256'>): string => download.sha256.slice(0, 16);

/** The key of one part in the `restores` bucket: `<device>.<ref>.<index, 3 digits>`. */
export const restorePartKey = (device: string, ref: string, index: number): string => `${device}.${ref}.${String(index).padStart(3, '0')}`;

/** `up.restore`: "send me part `index` of download `ref`" (the device is the one in the subject). */
export const RestoreRequest = z.strictObject({ ref: DownloadRef, index: z.int().min(0).max(DOWNLOAD_MAX_PARTS - 1) });
export type RestoreRequest = z.infer<typeof RestoreRequest>;

export function encodeRestoreRequest(request: RestoreRequest): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(request));
}

/** The request in `data`, or null when it is not one (the gateway drops it). */
export function decodeRestoreRequest(data: Uint8Array): RestoreRequest | null {
  if (data.byteLength > 256) return null;
  try {
    const parsed = RestoreRequest.safeParse(JSON.parse(new TextDecoder().decode(data)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
