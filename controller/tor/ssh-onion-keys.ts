/**
 * The admin's side of SSH over Tor: each device managed over onions publishes its SSH onion with the
 * admin's x25519 key as its only authorized client (controller/compile). The controller's tor holds
 * that key for every such onion — one `device-<id>-ssh.auth_private` per device in its
 * ClientOnionAuthDir — so `ssh` through its SOCKS port (and `device add --ssh` to an onion) can open
 * it. `serve --tor` keeps the directory in step with the devices' reported SSH onions.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { clientAuthPrivateLine } from '#shared/crypto/onion.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { ControllerSession } from '../bus/session.ts';
import { openStatus } from '../status/view.ts';
import { adminClientPrivateKey } from '../enroll/onion-clients.ts';
import type { SecretKeys } from '../state/secret-files.ts';
import { listDevices } from '../state/devices.ts';
import type { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import type { StatePaths } from '../state/paths.ts';

const SUFFIX = '-ssh.auth_private';
const RELIST_MS = 60_000;

/** The controller tor's ClientOnionAuthDir. */
export function adminClientAuthDir(paths: StatePaths): string {
  return join(paths.tor, 'client-auth');
}

/**
 * Writes one key file per device → SSH onion in `sshOnions` and removes the others. Resolves true
 * when anything changed (the tor must reload to use it).
 */
export async function syncSshOnionKeys(paths: StatePaths, sshOnions: ReadonlyMap<string, string>, keys: SecretKeys): Promise<boolean> {
  const dir = adminClientAuthDir(paths);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const privateKey = await adminClientPrivateKey(paths, keys);
  let changed = false;
  for (const file of await readdir(dir)) {
    const device = file.startsWith('device-') && file.endsWith(SUFFIX) ? file.slice('device-'.length, -SUFFIX.length) : null;
    if (device === null || !sshOnions.has(device)) {
      await rm(join(dir, file), { force: true });
      changed = true;
    }
  }
  for (const [device, onion] of sshOnions) {
    const path = join(dir, `device-${device}${SUFFIX}`);
    const line = `${clientAuthPrivateLine(onion.replace(/\.onion$/, ''), privateKey)}\n`;
    if ((await readFile(path, 'utf8').catch(() => null)) === line) continue;
    await writeFileAtomic(path, line, { mode: 0o600 });
    changed = true;
  }
  return changed;
}

/**
 * Watches the devices' statuses and keeps the SSH onion keys in step, calling `reload` after a
 * change. Runs until `stop()`; a status that cannot be read is skipped (`log` says why, without secrets).
 */
export async function watchSshOnions(paths: StatePaths, session: ControllerSession, reload: () => Promise<void>, log: (line: string) => void): Promise<{ stop(): Promise<void> }> {
  const onions = new Map<string, string>();
  // Every device's status arrives each heartbeat: read the device list only when a status comes from
  // a device not seen yet, or once a minute (a revoked device's key goes then), and write the key
  // files only when an onion changed.
  let records = new Map<string, EnrollmentRecord>();
  let loadedAt = -Infinity;
  let first = true;
  const watcher = await session.status.watch();
  const done = (async () => {
    for await (const entry of watcher) {
      try {
        if (!records.has(entry.key) || performance.now() - loadedAt > RELIST_MS) {
          records = new Map((await listDevices(paths)).map((d) => [d.device, d]));
          loadedAt = performance.now();
        }
        const before = [...onions].join('\n');
        const record = records.get(entry.key);
        const view = record === undefined || entry.operation !== 'PUT' ? null : await openStatus(session, record, entry.value);
        const onion = view?.status?.sshOnion ?? null;
        if (onion === null) onions.delete(entry.key);
        else onions.set(entry.key, onion);
        for (const id of [...onions.keys()]) if (!records.has(id)) onions.delete(id);
        if ((first || [...onions].join('\n') !== before) && await syncSshOnionKeys(paths, onions, session.secrets)) {
          await reload();
          log(`SSH onion keys: ${onions.size} device(s)`);
        }
        first = false;
      } catch (err) {
        log(`SSH onion keys not updated: ${err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err)}`);
      }
    }
  })();
  return {
    async stop() {
      watcher.stop();
      await done;
    },
  };
}
