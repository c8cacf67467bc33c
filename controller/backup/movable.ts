/**
 * Which identities may move (docs/continuity.md): the newest good backup of each instance, from the
 * controller's own reading of the backups bucket — except where the move is a compromise. Backups
 * signed by a revoked device are not read at all (its record is retired), and an instance that was on
 * a revoked device never carries its keys: it gets a new address.
 */
import type { FleetSpec } from '#shared/schema/fleet-spec.ts';
import type { BackupBody, InstanceIdentity } from '#shared/schema/identity.ts';
import type { ControllerSession } from '../bus/session.ts';
import { appliedPlacement } from '../apply/publish.ts';
import { kvStore } from '../apply/store.ts';
import { listDevices } from '../state/devices.ts';
import type { StatePaths } from '../state/paths.ts';
import { newestByInstance, openBackup, readBackupBucket, type OpenedBackup } from './open-backups.ts';
import { openPart, readStoreLogBucket, withStoreLog } from './store-log-chain.ts';

/**
 * The backups with their store logs reassembled from the chains they name (./store-log-chain.ts):
 * a chain with a gap or a bad part makes its backup refused, so nothing is restored from it.
 */
async function withStoreLogs(opened: readonly OpenedBackup[], session: ControllerSession, signers: ReadonlyMap<string, string>, downloads?: Map<string, Uint8Array>): Promise<OpenedBackup[]> {
  const chained = new Set(opened.filter((b) => b.ok && b.body.storeLogChain !== undefined).map((b) => b.key));
  if (chained.size === 0) return [...opened];
  const sealed = await readStoreLogBucket(session.storeLogs, (key) => chained.has(key));
  const parts = await Promise.all(sealed.map((p) => openPart(p, session.secrets.ageIdentity, signers)));
  return opened.map((b) => withStoreLog(b, parts, downloads));
}

/**
 * The newest good backup of every instance, opened with the controller's identity. With `downloads`,
 * a store log too large for a desired state is named as a download and its gzip'd bytes put there
 * (by SHA-256); without, such an identity goes without it.
 */
export async function newestBackups(paths: StatePaths, session: ControllerSession, rotatedAway: ReadonlySet<string> = new Set(), downloads?: Map<string, Uint8Array>): Promise<Map<string, BackupBody>> {
  const signers = new Map((await listDevices(paths)).map((d) => [d.device, d.signingKey]));
  const opened = await withStoreLogs(await Promise.all((await readBackupBucket(session.backups)).map((b) => openBackup(b, session.secrets.ageIdentity, signers))), session, signers, downloads);
  // A rotated-away identity is never restored: its backups do not count.
  return newestByInstance(opened.filter((b) => !b.ok || !rotatedAway.has(b.body.identity.fingerprint)));
}

/**
 * Identities that may move with their instance, for `spec` (device states applied): the newest
 * backup of each instance, minus those last placed on a revoked device and those in `fresh`
 * (instances being rotated). The store logs they name as downloads go into `downloads` (see newestBackups).
 */
export async function movableIdentities(paths: StatePaths, session: ControllerSession, spec: FleetSpec, fresh: ReadonlySet<string> = new Set(),
  rotatedAway: ReadonlySet<string> = new Set(), downloads?: Map<string, Uint8Array>): Promise<Map<string, InstanceIdentity>> {
  const revoked = new Set(spec.devices.filter((d) => d.state === 'revoked').map((d) => d.id));
  const target = { own: kvStore(session.own), desired: kvStore(session.desired), identity: session.identity, secrets: session.secrets };
  const wasOn = new Map(((await appliedPlacement(target))?.placements ?? []).map((p) => [p.instance, p.device]));
  const out = new Map<string, InstanceIdentity>();
  for (const [instance, body] of await newestBackups(paths, session, rotatedAway, downloads)) {
    const device = wasOn.get(instance);
    if (fresh.has(instance) || (device !== undefined && revoked.has(device))) continue;
    out.set(instance, body.identity);
  }
  return out;
}
