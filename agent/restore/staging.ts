/**
 * Where a device keeps the parts of a restore download until the restore takes them (docs/continuity.md,
 * "Restores larger than a desired state"): `/var/lib/onionfleet/restores/<ref>/<part>` below the
 * root, 0700/0600, written by whoever holds the device's keys (the agent, or behind it the root
 * applier). A part is staged only after it opened: sealed to this device, signed by the controller,
 * a well-formed {@link RestorePart}. Put together, the parts must make the download the signed desired
 * state names (its length and SHA-256) before a restore uses them. Parts of downloads the desired
 * state no longer names are removed.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { open } from '#shared/crypto/envelope.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { DesiredState } from '#shared/schema/desired-state.ts';
import { DOWNLOAD_PART_BYTES, downloadsIn, DownloadRef, refOf, RESTORE_PART_KIND, RestorePart, type StoreLogDownload } from '#shared/schema/store-log-download.ts';

export const STAGING_DIR = '/var/lib/onionfleet/restores';

export interface PartKeys {
  /** The device's age identity: parts are sealed to it. */
  readonly identity: string;
  /** The controller's signing key: parts are signed by it. */
  readonly signer: string;
  readonly device: string;
}

const partFile = (root: string, ref: string, index: number) => join(root, STAGING_DIR, ref, String(index).padStart(3, '0'));

/** Opens one sealed part (throws EnvelopeError when it is not one for this device from the controller). */
export async function openRestorePart(sealed: Uint8Array, keys: PartKeys): Promise<RestorePart> {
  const { body } = await open(sealed, { identity: keys.identity, signer: keys.signer, kind: RESTORE_PART_KIND, device: keys.device, schema: RestorePart });
  if (body.device !== keys.device || body.index >= body.parts) throw new Error('the download part names another device, or a part beyond its count');
  return body;
}

/** Opens `sealed` and keeps its bytes below `root`. Returns the part's reference and number. */
export async function stageRestorePart(root: string, sealed: Uint8Array, keys: PartKeys): Promise<{ ref: string; index: number; parts: number }> {
  const part = await openRestorePart(sealed, keys);
  await mkdir(join(root, STAGING_DIR, part.ref), { recursive: true, mode: 0o700 });
  await writeFileAtomic(partFile(root, part.ref, part.index), Buffer.from(part.data, 'base64'), { mode: 0o600 });
  return { ref: part.ref, index: part.index, parts: part.parts };
}

/** The gzip'd log `download` names, put together from its staged parts, or null while a part is missing or they do not make it. */
export async function stagedLog(root: string, download: StoreLogDownload): Promise<Buffer | null> {
  const parts: Buffer[] = [];
  let total = 0;
  for (let index = 0; index < download.parts; index++) {
    const bytes = await readFile(partFile(root, refOf(download), index)).catch(() => null);
    if (bytes === null || bytes.byteLength > DOWNLOAD_PART_BYTES) return null;
    total += bytes.byteLength;
    if (total > download.bytes) return null;
    parts.push(bytes);
  }
  const log = Buffer.concat(parts);
  return log.byteLength === download.bytes && createHash('sha256').update(log).digest('hex') === download.sha256 ? log : null;
}

/** The references of the downloads among `downloads` whose parts are all staged and make them. */
export async function completeDownloads(root: string, downloads: readonly StoreLogDownload[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const d of downloads) if (await stagedLog(root, d) !== null) out.add(refOf(d));
  return out;
}

/** Removes the staged parts of every download `desired` no longer names. */
export async function pruneStaged(root: string, desired: Pick<DesiredState, 'instances'>): Promise<void> {
  const keep = new Set(downloadsIn(desired).map(refOf));
  const dir = join(root, STAGING_DIR);
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) if (!keep.has(name) || !DownloadRef.safeParse(name).success) await rm(join(dir, name), { recursive: true, force: true });
}
