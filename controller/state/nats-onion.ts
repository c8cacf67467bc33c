/**
 * The onion address of the controller's NATS: its key is born in the controller's state (the
 * controller's own service, like its other keys) the first time anything needs the address — a join
 * token, an SSH enrollment, `serve --tor` — so agents can be configured before the first `serve`.
 * The key is a secret file (`keys/nats-onion.key`, sealed when the state has a passphrase); tor gets a
 * copy in its HiddenServiceDir only while `serve --tor` runs, and the copy goes when it stops. The
 * address is kept beside it in the clear (`keys/nats-onion.hostname`): commands that only need the
 * address need no passphrase, and the onion admits only clients with an authorized key.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isSecretKeyFile, onionAddress, publicKeyFromSecretKeyFile, randomOnionKeys } from '#shared/crypto/onion.ts';
import { OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { StatePaths } from './paths.ts';
import { hasPassphrase, readSecret, writeSecret, type SecretKeys } from './secret-files.ts';

/** The port of the NATS onion (what agents dial); it forwards to nats-server on 127.0.0.1. */
export const NATS_ONION_PORT = 4222;

export interface NatsOnion {
  /** `<56 chars>.onion`. */
  readonly hostname: string;
  readonly port: number;
  /** `nats://<hostname>:<port>`, the agents' `nats.url`. */
  readonly url: string;
}

const onion = (hostname: string): NatsOnion => ({ hostname, port: NATS_ONION_PORT, url: `nats://${hostname}:${NATS_ONION_PORT}` });

/** tor's copy of the key, in the onion's HiddenServiceDir. */
function torCopy(paths: StatePaths): string {
  return join(paths.natsOnionDir, 'hs_ed25519_secret_key');
}

function hostnameOf(secretKeyFile: Uint8Array, path: string): string {
  const publicKey = isSecretKeyFile(secretKeyFile) ? publicKeyFromSecretKeyFile(secretKeyFile) : null;
  if (publicKey === null) throw new OperationFailedError('nats-onion-key-corrupt', `${path} is not a tor v3 onion secret key`);
  return onionAddress(publicKey);
}

/**
 * The NATS onion's address; creates its key (a secret file) unless it exists. A key an older
 * onionfleet kept only in tor's HiddenServiceDir becomes the secret file (and, with a passphrase,
 * leaves the HiddenServiceDir). Needs no passphrase.
 */
export async function ensureNatsOnion(paths: StatePaths): Promise<NatsOnion> {
  const known = (await readFile(paths.natsOnionHostname, 'utf8').catch(() => null))?.trim();
  if (known !== undefined && known !== '') return onion(known);
  await mkdir(paths.keys, { recursive: true, mode: 0o700 });
  const older = await readFile(torCopy(paths)).catch(() => null);
  const key = older ?? randomOnionKeys().secretKeyFile;
  const hostname = hostnameOf(key, older === null ? paths.natsOnionKey : torCopy(paths));
  await writeSecret(paths, paths.natsOnionKey, key);
  await writeFileAtomic(paths.natsOnionHostname, `${hostname}\n`, { mode: 0o600 });
  if (older !== null && (await hasPassphrase(paths))) await rm(torCopy(paths), { force: true });
  return onion(hostname);
}

/** Gives tor its copy of the key (0600, dir 0700) for `serve --tor`; returns the address. */
export async function placeNatsOnionKeyForTor(paths: StatePaths, keys: SecretKeys): Promise<NatsOnion> {
  const address = await ensureNatsOnion(paths);
  const key = await readSecret(paths, paths.natsOnionKey, keys);
  if (key === null || hostnameOf(key, paths.natsOnionKey) !== address.hostname) {
    throw new OperationFailedError('nats-onion-key-corrupt', `${paths.natsOnionKey} does not match ${paths.natsOnionHostname}`);
  }
  await mkdir(join(paths.natsOnionDir, 'authorized_clients'), { recursive: true, mode: 0o700 });
  await writeFileAtomic(torCopy(paths), key, { mode: 0o600 });
  return address;
}

/** Takes tor's copy of the key away again when the state has a passphrase (without one, the secret file is as clear). */
export async function removeNatsOnionKeyForTor(paths: StatePaths): Promise<void> {
  if (await hasPassphrase(paths)) await rm(torCopy(paths), { force: true });
}
