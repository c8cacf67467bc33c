/**
 * age v1 encryption to X25519 recipients (`age1…`) on node:crypto (OpenSSL), for
 * shared/crypto/age.ts. The `age-encryption` library does the same through WebCrypto, whose key
 * imports cost about 2 ms a file on Node 20; a 1000-member bundle export spends most of its time
 * there. Decryption and the other recipient types stay with the library.
 *
 * Spec: https://age-encryption.org/v1 (C2SP age). Writing, per file:
 * - a random 16-byte file key;
 * - per recipient, an ephemeral X25519 key pair; the shared secret with the recipient;
 *   wrap key = HKDF-SHA-256(secret, salt = ephemeral share ‖ recipient, "age-encryption.org/v1/X25519");
 *   stanza `-> X25519 <share, base64 no padding>` and the body ChaCha20-Poly1305(wrap key, zero
 *   nonce, file key), one 43-character line;
 * - the header MAC: HMAC-SHA-256 keyed with HKDF-SHA-256(file key, no salt, "header") over the
 *   header up to and including `---`, written as `--- <MAC>`;
 * - a random 16-byte nonce, then the payload: STREAM with key HKDF-SHA-256(file key, nonce,
 *   "payload"), 64 KiB chunks, each ChaCha20-Poly1305 with nonce = 11-byte big-endian chunk
 *   counter ‖ last-chunk flag (1 on the last chunk). The last chunk is empty only when the whole
 *   plaintext is.
 *
 * Proof: test/unit/crypto/age-x25519.test.ts (the library decrypts ours) and
 * test/integration/age-interop.test.ts (the Debian `age` CLI does).
 */
import { createCipheriv, createHmac, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { bech32 } from '@scure/base';

const CHUNK = 64 * 1024;
const TAG = 16;
const X25519_LABEL = 'age-encryption.org/v1/X25519';
const ARMOR_BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----\n';
const ARMOR_END = '-----END AGE ENCRYPTED FILE-----\n';

/**
 * A recipient's X25519 key could not be used: it is a low-order point, so the shared secret would
 * be all zeros (the spec requires refusing it). `index` is its position in the list (0-based).
 */
export class LowOrderRecipientError extends Error {
  readonly index: number;
  constructor(index: number, options: { cause?: unknown } = {}) {
    super(`recipient #${index + 1} is not a usable X25519 public key (low-order point)`, options);
    this.index = index;
  }
}

/**
 * The 32-byte public key of an X25519 age recipient (`age1…`, lower case, valid bech32), or null
 * when `recipient` is anything else — including the other `age1…` types (`age1pq1…`, `age1tag1…`),
 * whose payloads are not 32 bytes. Never throws.
 */
export function x25519RecipientKey(recipient: string): Uint8Array | null {
  if (!recipient.startsWith('age1')) return null;
  try {
    const { prefix, bytes } = bech32.decodeToBytes(recipient);
    return prefix === 'age' && bytes.length === 32 ? bytes : null;
  } catch {
    return null;
  }
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');

/** ChaCha20-Poly1305 of `plaintext` (ciphertext ‖ 16-byte tag) written into `out` at `offset`; returns the new offset. */
function seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): number {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  const body = cipher.update(plaintext);
  out.set(body, offset);
  const rest = cipher.final();
  out.set(rest, offset + body.length);
  out.set(cipher.getAuthTag(), offset + body.length + rest.length);
  return offset + plaintext.length + TAG;
}

const hkdf = (ikm: Uint8Array, salt: Uint8Array, info: string): Uint8Array => new Uint8Array(hkdfSync('sha256', ikm, salt, info, 32));

/** The `-> X25519 …` stanza (two lines, each ending in a newline) wrapping `fileKey` for `recipient`. */
function x25519Stanza(fileKey: Uint8Array, recipient: Uint8Array, index: number): string {
  const ephemeral = generateKeyPairSync('x25519');
  const share = Buffer.from(ephemeral.publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  let secret: Uint8Array;
  try {
    // JWK rather than DER: on Node 20 a DER import costs about 6 times as much.
    const peer: KeyObject = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(recipient).toString('base64url') }, format: 'jwk' });
    secret = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: peer });
  } catch (err) {
    // OpenSSL refuses to derive an all-zero secret (a low-order point); nothing else can fail here.
    throw new LowOrderRecipientError(index, { cause: err });
  }
  if (secret.every((b) => b === 0)) throw new LowOrderRecipientError(index);
  const salt = new Uint8Array(64);
  salt.set(share, 0);
  salt.set(recipient, 32);
  const body = new Uint8Array(fileKey.length + TAG);
  seal(hkdf(secret, salt, X25519_LABEL), new Uint8Array(12), fileKey, body, 0);
  return `-> X25519 ${b64(share)}\n${b64(body)}\n`;
}

/**
 * A binary age v1 file holding `plaintext` that any of `recipients` (32-byte X25519 public keys
 * from {@link x25519RecipientKey}) can decrypt.
 *
 * @throws {LowOrderRecipientError} when a key is a low-order point (named by position).
 * @throws {RangeError} when `recipients` is empty or a key is not 32 bytes (a caller's bug).
 */
export function encryptX25519(recipients: readonly Uint8Array[], plaintext: Uint8Array): Uint8Array {
  if (recipients.length === 0) throw new RangeError('encryptX25519 needs at least one recipient');
  if (recipients.some((r) => r.length !== 32)) throw new RangeError('an X25519 recipient key is 32 bytes');
  const fileKey = randomBytes(16);
  const headerNoMac = `age-encryption.org/v1\n${recipients.map((r, i) => x25519Stanza(fileKey, r, i)).join('')}---`;
  const mac = createHmac('sha256', hkdf(fileKey, new Uint8Array(0), 'header')).update(headerNoMac).digest();
  const header = Buffer.from(`${headerNoMac} ${b64(mac)}\n`, 'latin1');
  const nonce = randomBytes(16);
  const streamKey = hkdf(fileKey, nonce, 'payload');

  const chunks = Math.max(1, Math.ceil(plaintext.length / CHUNK));
  const out = new Uint8Array(header.length + nonce.length + plaintext.length + chunks * TAG);
  out.set(header, 0);
  out.set(nonce, header.length);
  let offset = header.length + nonce.length;
  const chunkNonce = new Uint8Array(12);
  const counter = new DataView(chunkNonce.buffer);
  for (let i = 0; i < chunks; i++) {
    // 11-byte big-endian counter: bytes 3..10 hold it (a file never has 2^64 chunks), byte 11 the flag.
    counter.setBigUint64(3, BigInt(i));
    chunkNonce[11] = i === chunks - 1 ? 1 : 0;
    offset = seal(streamKey, chunkNonce, plaintext.subarray(i * CHUNK, (i + 1) * CHUNK), out, offset);
  }
  return out;
}

/**
 * The ASCII armor of a binary age file (UTF-8 bytes): `-----BEGIN AGE ENCRYPTED FILE-----`,
 * standard base64 (with padding) in lines of 64 characters, the END line, a final newline — byte
 * for byte what the library's `armor.encode` writes.
 */
export function armorAgeFile(file: Uint8Array): Uint8Array {
  const text = Buffer.from(file.buffer, file.byteOffset, file.byteLength).toString('base64');
  const lines: string[] = [ARMOR_BEGIN];
  for (let i = 0; i < text.length; i += 64) lines.push(text.slice(i, i + 64), '\n');
  lines.push(ARMOR_END);
  return new TextEncoder().encode(lines.join(''));
}
