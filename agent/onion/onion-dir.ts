/**
 * A tor HiddenServiceDir on disk: create its keys once, then only read them. The shell around
 * shared/crypto/onion.ts. Never logs, returns or puts key material into an error message.
 *
 * Invariant: an existing `hs_ed25519_secret_key` is never replaced — it *is* the onion address.
 * `hs_ed25519_public_key` and `hostname` are derived from it (as tor itself does on start).
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import {
  isOnionAddress,
  onionAddress,
  onionKeysFromSeed,
  parsePublicKeyFile,
  publicKeyFileOf,
  publicKeyFromSecretKeyFile,
  SECRET_KEY_FILE_BYTES,
  SECRET_KEY_FILE_HEADER,
} from '#shared/crypto/onion.ts';

export const ONION_DIR_FILES = {
  secretKey: 'hs_ed25519_secret_key',
  publicKey: 'hs_ed25519_public_key',
  hostname: 'hostname',
} as const;

/** Who owns the directory and its files (on a Pi: `debian-tor`, for AppArmor's `/var/lib/tor/**`). */
export interface OnionDirOwner {
  readonly uid: number;
  readonly gid: number;
}

export interface EnsureOnionDirOptions {
  /** chown the directory and every file written to this owner. Default: leave as created. */
  readonly owner?: OnionDirOwner;
}

export interface EnsuredOnionDir {
  /** `<56>.onion`, derived from the secret key. */
  readonly hostname: string;
  /** True when this call generated a new key (a new onion address). */
  readonly created: boolean;
}

const SECRET_MODE = 0o600;
const DIR_MODE = 0o700;

function isNotFound(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'ENOENT';
}

/** A file's bytes, or null when it does not exist. Throws on any other read failure. */
async function readIfExists(path: string): Promise<Uint8Array | null> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    if (isNotFound(err)) return null;
    throw new OperationFailedError('onion-dir-unreadable', `cannot read ${path}`, {
      cause: err,
      hint: 'run the agent as root or as the owner of the HiddenServiceDir',
    });
  }
}

async function writeOwned(path: string, content: string | Uint8Array, owner: OnionDirOwner | undefined): Promise<void> {
  await writeFileAtomic(path, content, { mode: SECRET_MODE });
  if (owner !== undefined) await chown(path, owner.uid, owner.gid);
}

/**
 * The hostname tor (or {@link ensureOnionDir}) wrote to `<dir>/hostname`, without the newline.
 * Returns null when the file is missing or does not hold a valid v3 address (tor rewrites it on
 * start). Throws an {@link OperationFailedError} (`onion-dir-unreadable`) when it cannot be read.
 */
export async function readOnionHostname(dir: string): Promise<string | null> {
  const bytes = await readIfExists(join(dir, ONION_DIR_FILES.hostname));
  if (bytes === null) return null;
  const hostname = Buffer.from(bytes).toString('utf8').trim();
  return isOnionAddress(hostname) && hostname.endsWith('.onion') ? hostname : null;
}

/**
 * Makes `dir` a HiddenServiceDir with a key, and returns its onion hostname.
 *
 * - With an `hs_ed25519_secret_key`: validates it (96 bytes, tor's header, a clamped scalar),
 *   derives the public key from it, and rewrites `hs_ed25519_public_key` / `hostname` only when
 *   they are missing or disagree with it; narrows a group- or world-accessible `dir` to 0700.
 *   `created` is false.
 * - Without one: creates `dir` (0700), generates a fresh seed and writes the three files (0600)
 *   atomically, the secret key first. `created` is true.
 *
 * Throws an {@link OperationFailedError}: `onion-key-invalid` when the existing secret key file is
 * not a tor v3 key (it is left untouched), `onion-dir-unreadable` when a file cannot be read; and
 * the underlying error when a directory or file cannot be created, written or chowned.
 * Not safe against two concurrent callers on the same directory (the agent reconciles serially).
 */
export async function ensureOnionDir(dir: string, options: EnsureOnionDirOptions = {}): Promise<EnsuredOnionDir> {
  const { owner } = options;
  const secretPath = join(dir, ONION_DIR_FILES.secretKey);
  const existing = await readIfExists(secretPath);
  if (existing !== null) {
    const publicKey = publicKeyFromSecretKeyFile(existing);
    existing.fill(0);
    if (publicKey === null) {
      throw new OperationFailedError('onion-key-invalid', `${secretPath} is not a tor v3 onion secret key (expected ${SECRET_KEY_FILE_BYTES} bytes starting with "${SECRET_KEY_FILE_HEADER}")`, {
        hint: 'restore the file from a backup; deleting it gives the service a new onion address',
      });
    }
    const hostname = onionAddress(publicKey);
    if (((await stat(dir)).mode & 0o077) !== 0) await chmod(dir, DIR_MODE); // tor refuses to start otherwise
    await repairDerivedFiles(dir, publicKey, hostname, owner);
    return { hostname, created: false };
  }

  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  await chmod(dir, DIR_MODE); // mkdir leaves an existing directory's mode alone; tor refuses a group-readable one
  if (owner !== undefined) await chown(dir, owner.uid, owner.gid);
  const seed = new Uint8Array(randomBytes(32));
  const keys = onionKeysFromSeed(seed);
  seed.fill(0);
  try {
    await writeOwned(secretPath, keys.secretKeyFile, owner);
  } finally {
    keys.secretKeyFile.fill(0);
  }
  await writeOwned(join(dir, ONION_DIR_FILES.publicKey), keys.publicKeyFile, owner);
  await writeOwned(join(dir, ONION_DIR_FILES.hostname), `${keys.hostname}\n`, owner);
  return { hostname: keys.hostname, created: true };
}

/** Rewrites the public key file and the hostname when they are missing or do not match the secret key. */
async function repairDerivedFiles(dir: string, publicKey: Uint8Array, hostname: string, owner: OnionDirOwner | undefined): Promise<void> {
  const publicPath = join(dir, ONION_DIR_FILES.publicKey);
  const publicFile = await readIfExists(publicPath);
  const storedKey = publicFile === null ? null : parsePublicKeyFile(publicFile);
  if (storedKey === null || Buffer.compare(storedKey, publicKey) !== 0) {
    await writeOwned(publicPath, publicKeyFileOf(publicKey), owner);
  }
  if ((await readOnionHostname(dir)) !== hostname) {
    await writeOwned(join(dir, ONION_DIR_FILES.hostname), `${hostname}\n`, owner);
  }
}
