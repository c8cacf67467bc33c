/** Registered devices: one enrollment record per file (public halves only). */
import { readdir, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../../shared/fs/atomic-write.ts';
import { loadJson } from '../../shared/fs/load-json.ts';
import { EnrollmentRecord } from '../../shared/schema/enrollment.ts';
import type { StatePaths } from './paths.ts';

export async function saveDevice(paths: StatePaths, record: EnrollmentRecord): Promise<void> {
  await writeFileAtomic(paths.device(record.device), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
}

export async function removeDevice(paths: StatePaths, id: string): Promise<void> {
  await rm(paths.device(id), { force: true });
}

/** Every registered device, sorted by id. */
export async function listDevices(paths: StatePaths): Promise<EnrollmentRecord[]> {
  const files = (await readdir(paths.devices).catch(() => [])).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(files.map((f) => loadJson(`${paths.devices}/${f}`, EnrollmentRecord, 'an enrollment record')));
}
