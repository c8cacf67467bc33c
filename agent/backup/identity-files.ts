/**
 * An instance's identity as files on the device (docs/continuity.md): read for a backup, written for
 * a restore. The files are the ones tor and the servers make: the onion directory's
 * `hs_ed25519_secret_key`, the config directory's `ca.crt`, `ca.key`, `server.crt`, `server.key` and
 * `fingerprint`, and the log directory's `smp-server-store.log`. Never logs or throws a key's content.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { parseOnionAddress, publicKeyFileOf } from '#shared/crypto/onion.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { DesiredInstance } from '#shared/schema/desired-state.ts';
import { InstanceIdentity, STORE_LOG_MAX_BYTES } from '#shared/schema/identity.ts';
import { PATHS } from '../render/paths.ts';
import type { Owners } from '../owners.ts';
import { readInstanceData, writeInstanceData } from './instance-data.ts';

export const STORE_LOG_FILE = 'smp-server-store.log';
/** The largest store log a restore writes (uncompressed): a bound on what a download may unpack to. */
const RESTORED_LOG_MAX_BYTES = 256 * 1024 * 1024;
/** The epoch of the identity a directory holds (absent: 1, made on this device). */
export const EPOCH_FILE = 'onionfleet-epoch';

const text = (path: string) => readFile(path, 'utf8').catch(() => null);

/**
 * The data of `instance` as it is now, or null when there is none: the SMP store log (raw bytes), or
 * XFTP's store log with its files up to the group's `xftpFilesMaxBytes` (./instance-data.ts).
 */
export async function readStoreLog(root: string, instance: Parameters<typeof readInstanceData>[1]): Promise<Buffer | null> {
  return readInstanceData(root, instance);
}

/**
 * The identity of `instance` as its files are now, or null when any required file is missing or
 * malformed. `withStoreLog: false` leaves the store log out (it travels as a chain of its own).
 */
export async function readIdentity(root: string, instance: Pick<DesiredInstance, 'id' | 'kind' | 'group' | 'password'>, withStoreLog = true): Promise<InstanceIdentity | null> {
  const at = (p: string) => join(root, p);
  const cfg = at(PATHS.configDir(instance.kind, instance.id));
  const onion = at(PATHS.onionDir(instance.id));
  const [hostname, secret, caCert, caKey, serverCert, serverKey, fingerprint, epochText] = await Promise.all([
    text(join(onion, 'hostname')), readFile(join(onion, 'hs_ed25519_secret_key')).catch(() => null),
    text(join(cfg, 'ca.crt')), text(join(cfg, 'ca.key')), text(join(cfg, 'server.crt')), text(join(cfg, 'server.key')),
    text(join(cfg, 'fingerprint')), text(join(cfg, EPOCH_FILE)),
  ]);
  if (hostname === null || secret === null || caCert === null || serverCert === null || serverKey === null || fingerprint === null) return null;
  let storeLog: string | null = null;
  let storeLogNote: InstanceIdentity['storeLogNote'] = 'none';
  if (instance.kind === 'smp' && withStoreLog) {
    const log = await readStoreLog(root, instance);
    if (log !== null) {
      const packed = gzipSync(log);
      if (packed.byteLength <= STORE_LOG_MAX_BYTES) {
        storeLog = packed.toString('base64');
        storeLogNote = 'included';
      } else storeLogNote = 'too-large';
    }
  }
  const parsed = InstanceIdentity.safeParse({
    instance: instance.id, kind: instance.kind, group: instance.group, epoch: Number(epochText?.trim() ?? '1') || 1,
    onion: { hostname: hostname.trim(), secretKeyFile: secret.toString('base64') },
    fingerprint: fingerprint.trim(), caCert, caKey, serverCert, serverKey, password: instance.password, storeLog, storeLogNote,
  });
  return parsed.success ? parsed.data : null;
}

/**
 * Writes `identity` as the instance's files (directories made as init and createOnionKey make them,
 * owners given to tor and the servers' account). The ini is the renderer's; the caller archived
 * whatever the directories held before. `downloaded`: the gzip'd store log of an identity that names
 * a download (`storeLogNote: fetch`), put together and checked by the caller (agent/restore/staging.ts).
 */
export async function writeIdentity(root: string, identity: InstanceIdentity, owners: Owners, downloaded: Buffer | null = null): Promise<void> {
  const at = (p: string) => join(root, p);
  const onion = at(PATHS.onionDir(identity.instance));
  await mkdir(dirname(onion), { recursive: true, mode: 0o700 });
  await owners.give(dirname(onion), 'debian-tor');
  await mkdir(onion, { recursive: true, mode: 0o700 });
  const publicKey = parseOnionAddress(identity.onion.hostname);
  if (publicKey === null) throw new Error('the identity names no valid onion address');
  await writeFileAtomic(join(onion, 'hs_ed25519_secret_key'), Buffer.from(identity.onion.secretKeyFile, 'base64'), { mode: 0o600 });
  await writeFileAtomic(join(onion, 'hs_ed25519_public_key'), publicKeyFileOf(publicKey), { mode: 0o600 });
  await writeFileAtomic(join(onion, 'hostname'), `${identity.onion.hostname}\n`, { mode: 0o600 });
  await owners.give(onion, 'debian-tor', { recursive: true });

  const cfg = at(PATHS.configDir(identity.kind, identity.instance));
  const log = at(PATHS.logDir(identity.kind, identity.instance));
  for (const base of [dirname(cfg), dirname(log)]) await mkdir(base, { recursive: true, mode: 0o755 });
  await mkdir(cfg, { recursive: true, mode: 0o700 });
  await mkdir(log, { recursive: true, mode: 0o700 });
  const files: [string, string, number][] = [
    ['ca.crt', identity.caCert, 0o644], ['server.crt', identity.serverCert, 0o644], ['server.key', identity.serverKey, 0o600],
    ['fingerprint', `${identity.fingerprint}\n`, 0o644], [EPOCH_FILE, `${identity.epoch}\n`, 0o644],
    ...(identity.caKey === null ? [] : [['ca.key', identity.caKey, 0o600] as [string, string, number]]),
  ];
  for (const [name, content, mode] of files) await writeFileAtomic(join(cfg, name), content, { mode });
  const packed = downloaded ?? (identity.storeLog === null ? null : Buffer.from(identity.storeLog, 'base64'));
  if (packed !== null) await writeInstanceData(root, identity.kind, identity.instance, gunzipSync(packed, { maxOutputLength: RESTORED_LOG_MAX_BYTES }));
  if (identity.kind === 'xftp') await mkdir(at(PATHS.xftpFilesDir(identity.instance)), { recursive: true, mode: 0o700 });
  await owners.give(cfg, 'simplex', { recursive: true });
  await owners.give(log, 'simplex', { recursive: true });
}
