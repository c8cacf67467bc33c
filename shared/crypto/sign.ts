/**
 * Ed25519 signatures (RFC 8032) over bytes, with node:crypto. Keys travel as text:
 * - public key: `ed25519:<base64url of the raw 32-byte key>` (the `SigningPublicKey` of
 *   shared/schema/enrollment.ts);
 * - secret key: base64url of the 32-byte seed, no prefix (it never leaves the machine that made it);
 * - signature: base64url of the 64 bytes.
 *
 * Apart from {@link generateSigningKey} everything is a function of its arguments. No logging; the
 * messages of the errors thrown here never contain key material.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { InvalidInputError, InternalError } from '../errors.ts';

/** A freshly generated signing key pair. `secretKey` is secret: write it with mode 0600, never log it. */
export interface SigningKeyPair {
  /** `ed25519:` + base64url(raw 32-byte public key): 51 characters. */
  readonly publicKey: string;
  /** base64url(32-byte seed): 43 characters. Secret. */
  readonly secretKey: string;
}

const PUBLIC_PREFIX = 'ed25519:';
/** 32 bytes in unpadded base64url: 43 characters. */
const KEY_B64URL = /^[A-Za-z0-9_-]{43}$/;
/** 64 bytes in unpadded base64url: 86 characters. */
const SIG_B64URL = /^[A-Za-z0-9_-]{86}$/;
/** PKCS#8 DER prefix of an Ed25519 private key (RFC 8410); the 32-byte seed follows it. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * Decodes unpadded base64url of exactly `bytes` bytes, or returns null. Canonical only: Buffer's
 * decoder ignores stray bits in the last character, so the text must re-encode to itself (otherwise
 * two strings would name one key).
 */
function decodeExact(text: string, pattern: RegExp, bytes: number): Buffer | null {
  if (!pattern.test(text)) return null;
  const raw = Buffer.from(text, 'base64url');
  return raw.length === bytes && raw.toString('base64url') === text ? raw : null;
}

function badKey(what: string, expected: string): InvalidInputError {
  return new InvalidInputError([{ source: what, message: `expected ${expected}` }], {
    hint: 'the key was damaged or truncated; copy it again from the file or record it came from',
  });
}

function rawPublicKey(publicKey: string): Buffer | null {
  if (!publicKey.startsWith(PUBLIC_PREFIX)) return null;
  return decodeExact(publicKey.slice(PUBLIC_PREFIX.length), KEY_B64URL, 32);
}

function privateKeyObject(secretKey: string): KeyObject {
  const seed = decodeExact(secretKey, KEY_B64URL, 32);
  if (seed === null) throw badKey('signing secret key', 'base64url of a 32-byte ed25519 seed (43 characters)');
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

function publicKeyText(key: KeyObject): string {
  const { x } = key.export({ format: 'jwk' });
  if (typeof x !== 'string') throw new InternalError('node:crypto exported an Ed25519 key without "x"');
  return `${PUBLIC_PREFIX}${x}`;
}

/** A new random Ed25519 key pair. */
export function generateSigningKey(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const { d } = privateKey.export({ format: 'jwk' });
  if (typeof d !== 'string') throw new InternalError('node:crypto exported an Ed25519 key without "d"');
  return { publicKey: publicKeyText(publicKey), secretKey: d };
}

/**
 * The public key belonging to `secretKey`, as `ed25519:…`.
 *
 * @throws {InvalidInputError} when `secretKey` is not base64url of 32 bytes.
 */
export function publicKeyOf(secretKey: string): string {
  return publicKeyText(createPublicKey(privateKeyObject(secretKey)));
}

/**
 * Signs `message` (pure Ed25519, no pre-hash) and returns the 64-byte signature in base64url
 * (86 characters). Deterministic: the same key and message give the same signature.
 *
 * @throws {InvalidInputError} when `secretKey` is not base64url of 32 bytes.
 */
export function sign(secretKey: string, message: Uint8Array): string {
  return nodeSign(null, message, privateKeyObject(secretKey)).toString('base64url');
}

/**
 * {@link sign} with the key parsed once, for many messages: the same signatures, without parsing
 * the key for each (which costs more than signing a small message).
 *
 * @throws {InvalidInputError} when `secretKey` is not base64url of 32 bytes.
 */
export function signerOf(secretKey: string): (message: Uint8Array) => Uint8Array {
  const key = privateKeyObject(secretKey);
  return (message) => nodeSign(null, message, key);
}

/**
 * True when `signature` is `publicKey`'s valid Ed25519 signature over exactly `message`.
 * Never throws: a malformed key or signature (wrong prefix, length, alphabet, non-canonical
 * base64url, not a curve point) is simply `false`.
 */
export function verify(publicKey: string, message: Uint8Array, signature: string): boolean {
  const raw = rawPublicKey(publicKey);
  const sig = decodeExact(signature, SIG_B64URL, 64);
  if (raw === null || sig === null) return false;
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    return nodeVerify(null, message, key, sig);
  } catch {
    return false;
  }
}

/**
 * `SHA256:` + base64 (standard alphabet, no `=` padding) of SHA-256 over the raw 32-byte public key:
 * 50 characters, for people to compare and for pinning. It looks like an OpenSSH fingerprint but is
 * not one: OpenSSH hashes its wire encoding of the key, this hashes the bare 32 bytes.
 *
 * @throws {InvalidInputError} when `publicKey` is not `ed25519:` + base64url of 32 bytes.
 */
export function keyFingerprint(publicKey: string): string {
  const raw = rawPublicKey(publicKey);
  if (raw === null) throw badKey('signing public key', 'ed25519:<43 base64url characters>');
  return `SHA256:${createHash('sha256').update(raw).digest('base64').replace(/=+$/, '')}`;
}
