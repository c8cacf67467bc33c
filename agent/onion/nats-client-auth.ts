/**
 * The key that opens the controller's NATS onion (v3 client authorization, docs/reference/tor.md): written into this
 * device's tor ClientOnionAuthDir as `controller.auth_private`, mode 0600, owned by the account tor
 * runs as (on a Pi `debian-tor`: tor reads the directory after dropping root, and refuses a directory
 * it cannot read). Without it the device's tor cannot even fetch the onion's descriptor.
 *
 * On a Pi this must work before the first desired state arrives — which comes through that onion — so
 * {@link prepareTorForNats} also makes sure tor's main config names the directory.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clientAuthPrivateLine } from '#shared/crypto/onion.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { Owners } from '../owners.ts';
import { PATHS } from '../render/paths.ts';
import { renderTorrcMain } from '../render/torrc.ts';
import type { SystemActions } from '../system.ts';

export const NATS_CLIENT_AUTH_FILE = 'controller.auth_private';

/**
 * Writes `<dir>/controller.auth_private` for `onionHostname` (`<56>.onion`) with the x25519 private key
 * (base32) unless it already holds exactly that; directory 0700 and file 0600, both given to
 * `debian-tor` through `owners`. Resolves true when the file changed (tor must reload).
 * Throws a RangeError for a malformed hostname or key.
 */
export async function ensureNatsClientAuth(dir: string, onionHostname: string, privateKeyBase32: string, owners?: Owners): Promise<boolean> {
  const line = `${clientAuthPrivateLine(onionHostname.replace(/\.onion$/, ''), privateKeyBase32)}\n`;
  const path = join(dir, NATS_CLIENT_AUTH_FILE);
  if ((await readFile(path, 'utf8').catch(() => null)) === line) return false;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, line, { mode: 0o600 });
  await owners?.give(dir, 'debian-tor', { recursive: true });
  return true;
}

export interface PrepareTorOptions {
  readonly root: string;
  /** `system: host`: the device's own tor, whose main torrc may still be the distribution's. */
  readonly onHost: boolean;
  readonly clientAuthDir: string;
  /** The SOCKS port the agent's config names (`tor.socks`). */
  readonly socksPort: number;
  readonly onionHostname: string;
  readonly privateKeyBase32: string;
  readonly owners: Owners;
  readonly system: SystemActions;
}

/**
 * Makes this device's tor able to open the NATS onion: the key file, and on a Pi a main torrc that
 * names the ClientOnionAuthDir (onionfleet's own main torrc, the one every apply renders, written now
 * if the distribution's is still in place). Reloads tor when anything changed, or when it is not
 * running. Resolves true when anything changed.
 */
export async function prepareTorForNats(o: PrepareTorOptions): Promise<boolean> {
  let changed = await ensureNatsClientAuth(join(o.root, o.clientAuthDir), o.onionHostname, o.privateKeyBase32, o.owners);
  if (o.onHost) {
    const torrc = join(o.root, PATHS.torrc);
    const current = await readFile(torrc, 'utf8').catch(() => '');
    if (!current.split('\n').some((l) => l.trim() === `ClientOnionAuthDir ${PATHS.torClientAuthDir}`)) {
      await writeFileAtomic(torrc, renderTorrcMain({ socksPort: o.socksPort }), { mode: 0o644 });
      changed = true;
    }
  }
  // Also when tor is down: a reload that failed after the files were written (the last run) left it so.
  if (changed || !(await o.system.torRunning())) await o.system.reloadTor();
  return changed;
}
