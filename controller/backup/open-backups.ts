/**
 * Reading the sealed backups (docs/continuity.md): every value of the `backups` bucket (or of an
 * exported directory), opened with one age identity — the controller's, or an offline recipient's —
 * and checked: signed by the device the gateway stored it under, a well-formed body naming that
 * device, an identity that holds together. The newest good backup of each instance is what a move
 * restores: highest epoch first (a device that came back with an older copy never wins), then the
 * latest `takenAt`.
 */
import type { KV } from '@nats-io/kv';
import { EnvelopeError, open } from '#shared/crypto/envelope.ts';
import { identityProblems } from '#shared/crypto/identity-check.ts';
import { BackupBody } from '#shared/schema/identity.ts';

/** The sealed document's kind, as the agent seals it (agent/backup/sender.ts). */
export const BACKUP_KIND = 'backup';

export interface SealedBackup {
  /** `<device>.<slot>` as the gateway stored it. */
  readonly key: string;
  readonly device: string;
  readonly sealed: Uint8Array;
}

export type OpenedBackup = SealedBackup & ({ readonly ok: true; readonly body: BackupBody } | { readonly ok: false; readonly problem: string });

/** Every backup in the bucket (its current value per key). */
export async function readBackupBucket(kv: KV): Promise<SealedBackup[]> {
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  const out: SealedBackup[] = [];
  for (const key of keys.sort()) {
    const entry = await kv.get(key);
    if (entry === null || entry.operation !== 'PUT') continue;
    out.push({ key, device: key.split('.')[0] ?? '', sealed: entry.value });
  }
  return out;
}

/**
 * Opens and checks one backup with `identity`; `signers` maps device ids to their pinned signing
 * keys (a device without one is refused). Never throws for a bad backup: it comes back with `problem`.
 */
export async function openBackup(backup: SealedBackup, identity: string, signers: ReadonlyMap<string, string>): Promise<OpenedBackup> {
  const signer = signers.get(backup.device);
  if (signer === undefined) return { ...backup, ok: false, problem: `no signing key known for device ${backup.device}` };
  try {
    const { body } = await open(backup.sealed, { identity, signer, kind: BACKUP_KIND, device: backup.device, schema: BackupBody });
    if (body.device !== backup.device) return { ...backup, ok: false, problem: `it names device ${body.device}, but device ${backup.device} sent it` };
    const problems = identityProblems(body.identity);
    if (problems.length > 0) return { ...backup, ok: false, problem: problems.join('; ') };
    return { ...backup, ok: true, body };
  } catch (err) {
    if (err instanceof EnvelopeError) return { ...backup, ok: false, problem: `${err.reason}: ${err.message}` };
    throw err;
  }
}

/** The newest good backup of each instance (highest epoch, then latest takenAt). Pure. */
export function newestByInstance(opened: readonly OpenedBackup[]): Map<string, BackupBody> {
  const out = new Map<string, BackupBody>();
  for (const b of opened) {
    if (!b.ok) continue;
    const id = b.body.identity.instance;
    const have = out.get(id);
    const newer = have === undefined || b.body.identity.epoch > have.identity.epoch
      || (b.body.identity.epoch === have.identity.epoch && Date.parse(b.body.takenAt) > Date.parse(have.takenAt));
    if (newer) out.set(id, b.body);
  }
  return out;
}
