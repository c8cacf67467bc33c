/**
 * The NATS onion's client-authorization list (docs/reference/tor.md, "Client authorization"): one
 * `authorized_clients/device-<id>.auth` per enrolled device (its own x25519 key), one for the admin (the
 * controller's own key, so the list is never empty — an empty list would make the onion public), and
 * one per extra client (a join token's one-time key). Anything else in the directory is removed: a
 * revoked device's key is gone once this returns, and gone from the running tor after a reload.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { authorizedClientLine, clientAuthKeyPair, clientAuthPublicKeyOf } from '#shared/crypto/onion.ts';
import { OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { listDevices } from '../state/devices.ts';
import { liveTokens } from '../state/tokens.ts';
import type { StatePaths } from '../state/paths.ts';
import { isSealed, readSecret, writeSecret, type SecretKeys } from '../state/secret-files.ts';

/** The admin's client key: opens the controller's own NATS onion and the devices' SSH onions. */
export const ADMIN_CLIENT = 'admin';

/**
 * The public half of the admin's x25519 client key (`keys/onion-client.pub`). Makes the pair on first
 * use: the private half is a secret file (`keys/onion-client.key`, sealed when the state has a
 * passphrase), so this needs no passphrase. A private key of an older onionfleet (no public file)
 * gives its public half, written then.
 */
export async function adminClientPublicKey(paths: StatePaths): Promise<string> {
  const known = (await readFile(paths.adminOnionPublicKey, 'utf8').catch(() => null))?.trim();
  if (known !== undefined && known !== '') return known;
  const existing = await readFile(paths.adminOnionKey).catch(() => null);
  let privateKey: string;
  if (existing === null) {
    privateKey = clientAuthKeyPair().privateKeyBase32;
    await mkdir(paths.keys, { recursive: true, mode: 0o700 });
    await writeSecret(paths, paths.adminOnionKey, `${privateKey}\n`);
  } else if (isSealed(existing)) {
    throw new OperationFailedError('key-missing', `${paths.adminOnionPublicKey} is missing`, { hint: 'run `onionfleet serve --tor` once with the passphrase: it writes the public half again' });
  } else {
    privateKey = existing.toString('utf8').trim();
  }
  const publicKey = clientAuthPublicKeyOf(privateKey);
  await writeFileAtomic(paths.adminOnionPublicKey, `${publicKey}\n`, { mode: 0o644 });
  return publicKey;
}

/**
 * The admin's private client key (base32), for the controller's tor. Made on first use like
 * {@link adminClientPublicKey}; writes the public half again when it went missing.
 */
export async function adminClientPrivateKey(paths: StatePaths, keys: SecretKeys): Promise<string> {
  let bytes = await readSecret(paths, paths.adminOnionKey, keys);
  if (bytes === null) {
    await adminClientPublicKey(paths);
    bytes = await readSecret(paths, paths.adminOnionKey, keys);
  }
  if (bytes === null) throw new OperationFailedError('key-missing', `${paths.adminOnionKey} is missing (its public half is there)`);
  const privateKey = new TextDecoder().decode(bytes).trim();
  const publicKey = clientAuthPublicKeyOf(privateKey);
  const known = (await readFile(paths.adminOnionPublicKey, 'utf8').catch(() => null))?.trim();
  if (known === undefined || known === '') await writeFileAtomic(paths.adminOnionPublicKey, `${publicKey}\n`, { mode: 0o644 });
  else if (known !== publicKey) throw new OperationFailedError('keys-mismatch', `${paths.adminOnionKey} does not match ${paths.adminOnionPublicKey}`);
  return privateKey;
}

/**
 * Rewrites the authorized_clients directory to exactly admin + the enrolled devices + the open join
 * tokens (unused, unexpired). Resolves true when anything changed (tor must reload to enforce it).
 */
export async function syncOnionClients(paths: StatePaths): Promise<boolean> {
  const dir = join(paths.natsOnionDir, 'authorized_clients');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // File name stems are prefixed (`device-<id>`, `token-<id>`, `admin`): no device id can collide with another client.
  const wanted = new Map<string, string>();
  wanted.set(ADMIN_CLIENT, await adminClientPublicKey(paths));
  for (const d of await listDevices(paths)) wanted.set(`device-${d.device}`, d.onionClientKey);
  for (const t of await liveTokens(paths, new Date())) wanted.set(`token-${t.id}`, t.onionClientKey);
  let changed = false;
  for (const file of await readdir(dir)) {
    const name = file.endsWith('.auth') ? file.slice(0, -'.auth'.length) : null;
    if (name === null || !wanted.has(name)) {
      await rm(join(dir, file), { force: true });
      changed = true;
    }
  }
  for (const [name, key] of wanted) {
    const line = `${authorizedClientLine(key)}\n`;
    const path = join(dir, `${name}.auth`);
    if ((await readFile(path, 'utf8').catch(() => null)) === line) continue;
    await writeFileAtomic(path, line, { mode: 0o600 });
    changed = true;
  }
  return changed;
}
