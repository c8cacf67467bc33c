/**
 * The onion address of the controller's NATS: its key is born in the controller's state (the
 * controller's own service, like its other keys) the first time anything needs the address — a join
 * token, an SSH enrollment, `serve --tor` — so agents can be configured before the first `serve`.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isSecretKeyFile, onionAddress, publicKeyFromSecretKeyFile, randomOnionKeys } from '../../shared/crypto/onion.ts';
import { OperationFailedError } from '../../shared/errors.ts';
import { writeFileAtomic } from '../../shared/fs/atomic-write.ts';
import type { StatePaths } from './paths.ts';

/** The port of the NATS onion (what agents dial); it forwards to nats-server on 127.0.0.1. */
export const NATS_ONION_PORT = 4222;

export interface NatsOnion {
  /** `<56 chars>.onion`. */
  readonly hostname: string;
  readonly port: number;
  /** `nats://<hostname>:<port>`, the agents' `nats.url`. */
  readonly url: string;
}

/** Creates the NATS onion's key (0600, dir 0700) unless it exists; returns its address. */
export async function ensureNatsOnion(paths: StatePaths): Promise<NatsOnion> {
  const secretPath = join(paths.natsOnionDir, 'hs_ed25519_secret_key');
  const existing = await readFile(secretPath).catch(() => null);
  let publicKey: Uint8Array | null;
  if (existing === null) {
    const keys = randomOnionKeys();
    await mkdir(paths.natsOnionDir, { recursive: true, mode: 0o700 });
    await mkdir(join(paths.natsOnionDir, 'authorized_clients'), { recursive: true, mode: 0o700 });
    await writeFileAtomic(secretPath, keys.secretKeyFile, { mode: 0o600 });
    publicKey = keys.publicKey;
  } else {
    publicKey = isSecretKeyFile(existing) ? publicKeyFromSecretKeyFile(existing) : null;
    if (publicKey === null) throw new OperationFailedError('nats-onion-key-corrupt', `${secretPath} is not a tor v3 onion secret key`);
  }
  const hostname = onionAddress(publicKey);
  return { hostname, port: NATS_ONION_PORT, url: `nats://${hostname}:${NATS_ONION_PORT}` };
}
