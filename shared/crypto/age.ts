/**
 * Thin wrappers over `age-encryption` (typage): X25519 recipients and identities, scrypt
 * passphrases, binary or ASCII-armored files. The output is a standard age v1 file that the `age`
 * CLI reads, and the reverse (test/integration/age-interop.test.ts).
 *
 * Encryption to X25519 recipients only (every recipient `age1…` X25519, the case of member
 * bundles and desired state) goes through ./age-x25519.ts on node:crypto, five or more times as
 * fast as the library on Node 20; the library still encrypts to passphrases and the other
 * recipient types, and does all decryption.
 *
 * Every failure is an {@link AgeError} whose message never contains key material or passphrases.
 * The library's own errors can quote the key they choke on (a bad bech32 checksum names the whole
 * string), so causes are scrubbed before they are attached.
 */
import { armor, Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { EXIT, OnionfleetError, type ErrorOptions } from '../errors.ts';
import { armorAgeFile, encryptX25519, LowOrderRecipientError, x25519RecipientKey } from './age-x25519.ts';

/** The conditions an {@link AgeError} reports. */
export const AGE_ERROR_CODES = ['age-bad-recipient', 'age-bad-identity', 'age-bad-passphrase', 'age-encrypt-failed', 'age-decrypt-failed'] as const;
export type AgeErrorCode = (typeof AGE_ERROR_CODES)[number];

/** Encrypting or decrypting with age failed. Exit 2: the input (a key, a file, a message) is invalid. */
export class AgeError extends OnionfleetError {
  readonly code: AgeErrorCode;
  readonly exitCode = EXIT.invalid;
  constructor(code: AgeErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.code = code;
  }
}

/** A new age X25519 key pair. `identity` is secret: write it with mode 0600, never log it. */
export interface AgeKeyPair {
  /** `AGE-SECRET-KEY-1…` (74 characters). Secret. */
  readonly identity: string;
  /** `age1…` (62 characters): what others encrypt to. */
  readonly recipient: string;
}

export interface EncryptOptions {
  /** ASCII armor (`-----BEGIN AGE ENCRYPTED FILE-----`, UTF-8 bytes) instead of the binary format. Default false. */
  readonly armor?: boolean;
}

export interface PassphraseOptions extends EncryptOptions {
  /** log2 of the scrypt work factor; the default (18, as the age CLI) costs about 2 s. Lower only for tests. */
  readonly scryptWorkFactor?: number;
}

const ARMOR_BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----';
/** Anything that looks like an age identity, in either case (bech32 errors quote the input). */
const IDENTITY_TEXT = /AGE-SECRET-KEY-[A-Z0-9-]*1[0-9A-Z]+/gi;

/** `err` with every identity-looking string in its message replaced; the stack is dropped with it. */
function scrubbed(err: unknown, secrets: readonly string[] = []): Error {
  let message = err instanceof Error ? err.message : String(err);
  for (const secret of secrets) if (secret !== '') message = message.split(secret).join('<redacted>');
  return new Error(message.replace(IDENTITY_TEXT, '<redacted identity>'));
}

/**
 * A new random X25519 identity and its recipient. X25519 (not the post-quantum hybrid) because
 * enrollment records, `fleet.yaml` and the age CLI in Debian all speak `age1…` X25519 recipients.
 */
export async function generateAgeIdentity(): Promise<AgeKeyPair> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/**
 * The recipient (`age1…`) of an identity (`AGE-SECRET-KEY-1…`), as `age-keygen -y` prints it.
 *
 * @throws {AgeError} `age-bad-identity` when `identity` is not an age identity (never quoted).
 */
export async function ageRecipientOf(identity: string): Promise<string> {
  try {
    return await identityToRecipient(identity);
  } catch (err) {
    throw new AgeError('age-bad-identity', 'not an age identity (expected AGE-SECRET-KEY-1…)', { cause: scrubbed(err, [identity]) });
  }
}

async function finish(encrypter: Encrypter, plaintext: Uint8Array, options: EncryptOptions): Promise<Uint8Array> {
  let file: Uint8Array;
  try {
    file = await encrypter.encrypt(plaintext);
  } catch (err) {
    throw new AgeError('age-encrypt-failed', 'age could not encrypt', { cause: scrubbed(err) });
  }
  return options.armor === true ? armorAgeFile(file) : file;
}

const badRecipient = (i: number, cause: unknown, what = 'is not an age recipient (expected age1…)'): AgeError => new AgeError('age-bad-recipient', `recipient #${i + 1} ${what}`, {
  cause: scrubbed(cause),
  hint: 'copy the recipient again from `age-keygen -y` or the device record',
});

/** The file through ./age-x25519.ts when every recipient is an X25519 one; null otherwise. */
function encryptFast(recipients: readonly string[], plaintext: Uint8Array, options: EncryptOptions): Uint8Array | null {
  const keys: Uint8Array[] = [];
  for (const recipient of recipients) {
    const key = x25519RecipientKey(recipient);
    if (key === null) return null;
    keys.push(key);
  }
  let file: Uint8Array;
  try {
    file = encryptX25519(keys, plaintext);
  } catch (err) {
    if (err instanceof LowOrderRecipientError) throw badRecipient(err.index, err, 'is not a usable X25519 key (a low-order point)');
    throw new AgeError('age-encrypt-failed', 'age could not encrypt', { cause: scrubbed(err) });
  }
  return options.armor === true ? armorAgeFile(file) : file;
}

/**
 * Encrypts `plaintext` so that any one of `recipients` (`age1…`) can decrypt it. Each file gets
 * a fresh file key and ephemeral keys, so two calls never give the same bytes.
 *
 * @throws {AgeError} `age-bad-recipient` when `recipients` is empty or one is not an age recipient
 *   or not a usable X25519 key (the message names it by position); `age-encrypt-failed` when
 *   encryption itself fails.
 */
export async function encryptTo(recipients: readonly string[], plaintext: Uint8Array, options: EncryptOptions = {}): Promise<Uint8Array> {
  if (recipients.length === 0) throw new AgeError('age-bad-recipient', 'no age recipient to encrypt to');
  const fast = encryptFast(recipients, plaintext, options);
  if (fast !== null) return fast;
  const encrypter = new Encrypter();
  recipients.forEach((recipient, i) => {
    try {
      encrypter.addRecipient(recipient);
    } catch (err) {
      throw badRecipient(i, err);
    }
  });
  return finish(encrypter, plaintext, options);
}

/**
 * Encrypts `plaintext` with a passphrase (age's scrypt recipient).
 *
 * @throws {AgeError} `age-bad-passphrase` when the passphrase is empty or the work factor is not an
 *   integer in 1..30; `age-encrypt-failed` when encryption itself fails.
 */
export async function encryptWithPassphrase(passphrase: string, plaintext: Uint8Array, options: PassphraseOptions = {}): Promise<Uint8Array> {
  if (passphrase === '') throw new AgeError('age-bad-passphrase', 'the passphrase is empty');
  const encrypter = new Encrypter();
  encrypter.setPassphrase(passphrase);
  if (options.scryptWorkFactor !== undefined) {
    const logN = options.scryptWorkFactor;
    if (!Number.isInteger(logN) || logN < 1 || logN > 30) {
      throw new AgeError('age-bad-passphrase', 'the scrypt work factor must be an integer from 1 to 30');
    }
    encrypter.setScryptWorkFactor(logN);
  }
  return finish(encrypter, plaintext, options);
}

/**
 * True when `ciphertext` (binary or ASCII-armored) is an age file locked with a passphrase: its
 * header's stanza is scrypt. False for a file to recipients; throws {@link AgeError} for damaged armor.
 */
export function isPassphraseEncrypted(ciphertext: Uint8Array): boolean {
  return new TextDecoder().decode(unarmored(ciphertext).subarray(0, 200)).includes('\n-> scrypt ');
}

/** The binary age file in `ciphertext`, decoding ASCII armor when the input starts with it (after whitespace). */
function unarmored(ciphertext: Uint8Array): Uint8Array {
  const head = new TextDecoder().decode(ciphertext.subarray(0, 128)).trimStart();
  if (!head.startsWith(ARMOR_BEGIN)) return ciphertext;
  try {
    return armor.decode(new TextDecoder('utf-8', { fatal: true }).decode(ciphertext));
  } catch (err) {
    throw new AgeError('age-decrypt-failed', 'the ASCII-armored age file is damaged', { cause: scrubbed(err) });
  }
}

async function run(decrypter: Decrypter, ciphertext: Uint8Array, secrets: readonly string[], noMatchMessage: string): Promise<Uint8Array> {
  const file = unarmored(ciphertext);
  try {
    return await decrypter.decrypt(file, 'uint8array');
  } catch (err) {
    const noMatch = err instanceof Error && err.message.includes('no identity matched');
    throw new AgeError('age-decrypt-failed', noMatch
      ? `age could not decrypt: ${noMatchMessage}`
      : 'age could not decrypt: the file is damaged, truncated or not an age file', { cause: scrubbed(err, secrets) });
  }
}

/**
 * Decrypts an age file (binary or ASCII-armored) with any of `identities` (`AGE-SECRET-KEY-1…`).
 *
 * @throws {AgeError} `age-bad-identity` when `identities` is empty or one is not an age identity
 *   (named by position, never quoted); `age-decrypt-failed` when the file is not for these
 *   identities, damaged, truncated or not an age file.
 */
export async function decryptWith(identities: readonly string[], ciphertext: Uint8Array): Promise<Uint8Array> {
  if (identities.length === 0) throw new AgeError('age-bad-identity', 'no age identity to decrypt with');
  const decrypter = new Decrypter();
  identities.forEach((identity, i) => {
    try {
      decrypter.addIdentity(identity);
    } catch (err) {
      throw new AgeError('age-bad-identity', `identity #${i + 1} is not an age X25519 identity (expected AGE-SECRET-KEY-1…)`, {
        cause: scrubbed(err, [identity]),
        hint: 'the identity file is damaged; it holds one AGE-SECRET-KEY-1… line',
      });
    }
  });
  return run(decrypter, ciphertext, identities, 'the file is not encrypted to the given identity');
}

/**
 * Decrypts a passphrase-encrypted age file (binary or ASCII-armored).
 *
 * @throws {AgeError} `age-bad-passphrase` when the passphrase is empty; `age-decrypt-failed` when the
 *   passphrase is wrong or the file is damaged, not passphrase-encrypted, or has a work factor above
 *   the library's limit.
 */
export async function decryptWithPassphrase(passphrase: string, ciphertext: Uint8Array): Promise<Uint8Array> {
  if (passphrase === '') throw new AgeError('age-bad-passphrase', 'the passphrase is empty');
  const decrypter = new Decrypter();
  decrypter.addPassphrase(passphrase);
  return run(decrypter, ciphertext, [passphrase], 'the passphrase is wrong or the file is not passphrase-encrypted');
}
