/**
 * Secrets at rest in the controller's state. A state made with a passphrase keeps its age identity
 * (`keys/age.key`) encrypted under the passphrase (scrypt), and every other secret file — the signing
 * key, the NATS seed, the admin's onion client key, the NATS onion's key, the bundle histories with
 * member addresses and passwords, the probe pins — sealed to the controller's own age recipient:
 * writing one needs no passphrase, reading one needs the identity (so the passphrase, once per
 * command). A state made without a passphrase keeps them all in the clear, mode 0600.
 * Files from an older onionfleet (in the clear, or each under the passphrase) are read as they are and
 * sealed afresh the first time they are read with the identity at hand.
 */
import { readFile } from 'node:fs/promises';
import { decryptWith, decryptWithPassphrase, encryptTo } from '#shared/crypto/age.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { StatePaths } from './paths.ts';
import { loadIdentity } from './identity.ts';

const ARMOR = '-----BEGIN AGE ENCRYPTED FILE-----';

/** True when `bytes` is an ASCII-armored age file (sealed, or under a passphrase). */
export function isSealed(bytes: Uint8Array): boolean {
  return new TextDecoder().decode(bytes.subarray(0, 64)).trimStart().startsWith(ARMOR);
}

/** True when the state was made with a passphrase (its age identity is encrypted). */
export async function hasPassphrase(paths: StatePaths): Promise<boolean> {
  const identity = await readFile(paths.ageIdentity).catch(() => null);
  return identity !== null && isSealed(identity);
}

/**
 * Writes a secret file atomically, mode 0600: sealed to the controller's age recipient when the
 * state has a passphrase, else as given. Throws on I/O failure (the old file then stays).
 */
export async function writeSecret(paths: StatePaths, path: string, plaintext: Uint8Array | string): Promise<void> {
  const bytes = typeof plaintext === 'string' ? new TextEncoder().encode(plaintext) : plaintext;
  if (!(await hasPassphrase(paths))) {
    await writeFileAtomic(path, bytes, { mode: 0o600 });
    return;
  }
  const { ageRecipient } = await loadIdentity(paths);
  await writeFileAtomic(path, await encryptTo([ageRecipient], bytes, { armor: true }), { mode: 0o600 });
}

/** What opens a sealed file: the controller's age identity, and (for files of an older onionfleet) the passphrase. */
export interface SecretKeys {
  readonly ageIdentity: string;
  readonly passphrase?: string | null;
}

/**
 * A secret file's plaintext; null when it does not exist. A sealed file needs `keys` (exit 2 with a
 * hint when they are not given). A file in the clear in a state with a passphrase, or one of an older
 * onionfleet under the passphrase, is sealed afresh when `keys` are given.
 */
export async function readSecret(paths: StatePaths, path: string, keys: SecretKeys | null): Promise<Uint8Array | null> {
  const raw = await readFile(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  });
  if (raw === null) return null;
  if (!isSealed(raw)) {
    if (keys !== null && (await hasPassphrase(paths))) await writeSecret(paths, path, raw);
    return new Uint8Array(raw);
  }
  if (keys === null) {
    throw new InvalidInputError([{ source: path, message: 'is sealed: the controller\'s passphrase is needed to read it' }], { hint: 'set ONIONFLEET_PASSPHRASE or pass --passphrase-file' });
  }
  try {
    return await decryptWith([keys.ageIdentity], raw);
  } catch (err) {
    if (keys.passphrase === undefined || keys.passphrase === null) throw err;
    // An older onionfleet encrypted each key under the passphrase itself: read it so, then seal it.
    const plaintext = await decryptWithPassphrase(keys.passphrase, raw);
    await writeSecret(paths, path, plaintext);
    return plaintext;
  }
}
