/** Registered devices: one enrollment record per file (public halves only). */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import type { StatePaths } from './paths.ts';

export async function saveDevice(paths: StatePaths, record: EnrollmentRecord): Promise<void> {
  await writeFileAtomic(paths.device(record.device), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
}

export async function removeDevice(paths: StatePaths, id: string): Promise<void> {
  await rm(paths.device(id), { force: true });
}

/**
 * Moves a device's record to `devices/revoked/` (kept for the record, no longer registered: it loses
 * its NATS user and onion client key at the next access sync). False when it was not registered.
 */
export async function retireDevice(paths: StatePaths, id: string): Promise<boolean> {
  const dir = join(paths.devices, 'revoked');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    await rename(paths.device(id), join(dir, `${id}.json`));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Every registered device, sorted by id. */
export async function listDevices(paths: StatePaths): Promise<EnrollmentRecord[]> {
  return recordsIn(paths.devices);
}

/** Every revoked device's record (kept by {@link retireDevice}), sorted by id. */
export async function listRevokedDevices(paths: StatePaths): Promise<EnrollmentRecord[]> {
  return recordsIn(join(paths.devices, 'revoked'));
}

async function recordsIn(dir: string): Promise<EnrollmentRecord[]> {
  const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(files.map((f) => loadJson(join(dir, f), EnrollmentRecord, 'an enrollment record')));
}
