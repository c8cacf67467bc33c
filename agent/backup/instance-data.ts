/**
 * An instance's data as the bytes its backups carry (docs/continuity.md): for SMP the store log as
 * it is; for XFTP the store log and — while they add up to at most the group's `xftpFilesMaxBytes` —
 * the files it names, packed by #shared/schema/instance-data.ts. Read for a backup, written for a
 * restore. Never logs or throws content.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { DesiredInstance } from '#shared/schema/desired-state.ts';
import { liveFiles, packInstanceData, relocateFilePaths, unpackInstanceData } from '#shared/schema/instance-data.ts';
import { PATHS } from '../render/paths.ts';

export const SMP_STORE_LOG_FILE = 'smp-server-store.log';
export const XFTP_STORE_LOG_FILE = 'file-server-store.log';

type Instance = Pick<DesiredInstance, 'id' | 'kind'> & { readonly continuity?: { readonly xftpFilesMaxBytes?: number | undefined } | undefined };

/**
 * The data of `instance` as its backups carry it, or null when it has no store log. XFTP: the
 * store log, then each file it still holds in the log's order (so new uploads mostly append), or
 * none when they add up to more than `continuity.xftpFilesMaxBytes` (absent: 0, none).
 */
export async function readInstanceData(root: string, instance: Instance): Promise<Buffer | null> {
  const logDir = join(root, PATHS.logDir(instance.kind, instance.id));
  if (instance.kind === 'smp') return readFile(join(logDir, SMP_STORE_LOG_FILE)).catch(() => null);
  const log = await readFile(join(logDir, XFTP_STORE_LOG_FILE)).catch(() => null);
  if (log === null) return null;
  const maxBytes = instance.continuity?.xftpFilesMaxBytes ?? 0;
  const dir = join(root, PATHS.xftpFilesDir(instance.id));
  const live = liveFiles(log);
  // Sizes first: nothing is read when the files would be left out anyway.
  const sizes = await Promise.all(live.map((f) => stat(join(dir, f.name)).then((s) => (s.isFile() ? s.size : null), () => null)));
  const total = sizes.reduce<number>((n, s) => n + (s ?? 0), 0);
  if (total > maxBytes) return packInstanceData(log, null, maxBytes);
  const files = new Map<string, Buffer>();
  for (const [index, f] of live.entries()) {
    if (sizes[index] === null) continue; // deleted since (its FDEL follows in the log)
    const data = await readFile(join(dir, f.name)).catch(() => null);
    if (data !== null) files.set(f.name, data);
  }
  const read = [...files.values()].reduce((n, d) => n + d.byteLength, 0);
  return packInstanceData(log, read <= maxBytes ? files : null, maxBytes);
}

/**
 * Writes restored data (already gunzipped) into the instance's log directory, which the caller made
 * (mode 0700) and gives to the servers' account afterwards. SMP: the store log. XFTP: the store log
 * with its FPUT paths in this device's files directory, and each file in it (0600, as the server
 * makes them under its unit's UMask 0077) — strictly: a name the server would not write, a file that
 * comes twice or is cut short, or sizes beyond the bounds refuse the whole restore (throws).
 */
export async function writeInstanceData(root: string, kind: DesiredInstance['kind'], instance: string, data: Buffer): Promise<void> {
  const logDir = join(root, PATHS.logDir(kind, instance));
  if (kind === 'smp') {
    await writeFileAtomic(join(logDir, SMP_STORE_LOG_FILE), data, { mode: 0o600 });
    return;
  }
  const unpacked = unpackInstanceData(data);
  const filesDir = PATHS.xftpFilesDir(instance);
  await mkdir(join(root, filesDir), { recursive: true, mode: 0o700 });
  // The files first: a store log that names them is written only once they are there.
  for (const f of unpacked.fileList) await writeFileAtomic(join(root, filesDir, f.name), f.data, { mode: 0o600 });
  await writeFileAtomic(join(logDir, XFTP_STORE_LOG_FILE), relocateFilePaths(unpacked.storeLog, join(root, filesDir)), { mode: 0o600 });
}
