/**
 * Devices that joined with a token and wait for the admin's approval: `state/pending/<device>.json`
 * (public halves only, like the registered devices) with the operator and when it asked. A pending
 * device has no NATS user and cannot reach the bus until `onionfleet device approve` registers it.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import { Id } from '#shared/schema/common.ts';
import { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import { TokenId } from '#shared/schema/join-token.ts';
import type { StatePaths } from './paths.ts';

/** One device waiting for approval: its public keys and where they came from. */
export const PendingDevice = z.strictObject({
  kind: z.literal('onionfleet/pending-device'),
  version: z.literal(1),
  record: EnrollmentRecord,
  /** The operator named by the token it joined with. */
  operator: Id,
  /** The token it joined with. */
  token: TokenId,
  requestedAt: z.iso.datetime(),
});
export type PendingDevice = z.infer<typeof PendingDevice>;

/** `state/pending`: one file per device waiting for approval. */
export function pendingDir(paths: StatePaths): string {
  return join(paths.dir, 'pending');
}

function pendingFile(paths: StatePaths, device: string): string {
  return join(pendingDir(paths), `${device}.json`);
}

/** Writes the pending device atomically (0644: public keys only; the directory 0700 like devices/). */
export async function savePending(paths: StatePaths, pending: PendingDevice): Promise<void> {
  await mkdir(pendingDir(paths), { recursive: true, mode: 0o700 });
  await writeFileAtomic(pendingFile(paths, pending.record.device), `${JSON.stringify(pending, null, 2)}\n`, { mode: 0o644 });
}

/** The pending device `device`, or null when there is none. Throws InvalidInputError when its file is damaged. */
export async function loadPending(paths: StatePaths, device: string): Promise<PendingDevice | null> {
  if (!Id.safeParse(device).success) return null;
  const exists = await readFile(pendingFile(paths, device)).then(() => true, () => false);
  return exists ? loadJson(pendingFile(paths, device), PendingDevice, 'a pending device') : null;
}

/** Removes the pending device (no-op when there is none). */
export async function removePending(paths: StatePaths, device: string): Promise<void> {
  await rm(pendingFile(paths, device), { force: true });
}

/** Every pending device, sorted by id. */
export async function listPending(paths: StatePaths): Promise<PendingDevice[]> {
  const files = (await readdir(pendingDir(paths)).catch(() => [])).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(files.map((f) => loadJson(join(pendingDir(paths), f), PendingDevice, 'a pending device')));
}
