/**
 * The key that opens the controller's NATS onion (v3 client authorization, tor.md): written into this
 * device's tor ClientOnionAuthDir as `controller.auth_private`, mode 0600. Without it the device's tor
 * cannot even fetch the onion's descriptor.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clientAuthPrivateLine } from '../../shared/crypto/onion.ts';
import { writeFileAtomic } from '../../shared/fs/atomic-write.ts';

export const NATS_CLIENT_AUTH_FILE = 'controller.auth_private';

/**
 * Writes `<dir>/controller.auth_private` for `onionHostname` (`<56>.onion`) with the x25519 private key
 * (base32) unless it already holds exactly that. Resolves true when the file changed (tor must reload).
 * Throws a RangeError for a malformed hostname or key.
 */
export async function ensureNatsClientAuth(dir: string, onionHostname: string, privateKeyBase32: string): Promise<boolean> {
  const line = `${clientAuthPrivateLine(onionHostname.replace(/\.onion$/, ''), privateKeyBase32)}\n`;
  const path = join(dir, NATS_CLIENT_AUTH_FILE);
  if ((await readFile(path, 'utf8').catch(() => null)) === line) return false;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, line, { mode: 0o600 });
  return true;
}
