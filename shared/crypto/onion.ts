/**
 * Tor v3 onion service keys and addresses (docs/reference/tor.md, "Onion service keys and the address";
 * rend-spec-v3 §6 and the tor key-file format), plus x25519 client-authorization keys.
 *
 * Pure apart from two explicitly random helpers ({@link randomOnionKeys}, {@link clientAuthKeyPair}):
 * everything else is a function of its arguments. No file system, no logging — callers hold secrets.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { base32nopad } from '@scure/base';
import { InternalError } from '../errors.ts';

/** Header of `hs_ed25519_secret_key`, NUL-padded to {@link KEY_FILE_HEADER_BYTES}. */
export const SECRET_KEY_FILE_HEADER = '== ed25519v1-secret: type0 ==';
/** Header of `hs_ed25519_public_key`, NUL-padded to {@link KEY_FILE_HEADER_BYTES}. */
export const PUBLIC_KEY_FILE_HEADER = '== ed25519v1-public: type0 ==';
export const KEY_FILE_HEADER_BYTES = 32;
/** 32-byte header + 64-byte expanded secret key. */
export const SECRET_KEY_FILE_BYTES = 96;
/** 32-byte header + 32-byte public key. */
export const PUBLIC_KEY_FILE_BYTES = 64;

const ONION_VERSION = 0x03;
const ONION_SUFFIX = '.onion';
const ADDRESS_CHARS = 56;
const CHECKSUM_PREFIX = new TextEncoder().encode('.onion checksum');
/** PKCS#8 DER prefix of an Ed25519 private key (RFC 8410); the 32-byte seed follows it. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** Order of the Ed25519 base point. */
const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n;

/** Everything tor keeps in a HiddenServiceDir, derived from one seed. All of it is key material except `hostname`. */
export interface OnionKeys {
  /** Contents of `hs_ed25519_secret_key` (96 bytes). Secret. */
  readonly secretKeyFile: Uint8Array;
  /** Contents of `hs_ed25519_public_key` (64 bytes). */
  readonly publicKeyFile: Uint8Array;
  /** The 32-byte Ed25519 public key (the service identity). */
  readonly publicKey: Uint8Array;
  /** `<56 base32 chars>.onion` — what tor writes (with a trailing newline) to `hostname`. */
  readonly hostname: string;
}

/** An x25519 client-authorization key pair in the base32 form tor's `.auth` files use. */
export interface ClientAuthKeyPair {
  /** 52 upper-case base32 characters, no padding: goes into the service's `authorized_clients/<name>.auth`. */
  readonly publicKeyBase32: string;
  /** 52 upper-case base32 characters, no padding: goes into the client's `<name>.auth_private`. Secret. */
  readonly privateKeyBase32: string;
}

function keyFileHeader(text: string): Uint8Array {
  const header = new Uint8Array(KEY_FILE_HEADER_BYTES);
  header.set(new TextEncoder().encode(text));
  return header;
}

function concat(...parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** The body of a key file when its header and length are right; otherwise null. */
function keyFileBody(file: Uint8Array, header: string, length: number): Uint8Array | null {
  if (file.length !== length) return null;
  if (!bytesEqual(file.subarray(0, KEY_FILE_HEADER_BYTES), keyFileHeader(header))) return null;
  return file.slice(KEY_FILE_HEADER_BYTES);
}

function onionChecksum(publicKey: Uint8Array): Uint8Array {
  const digest = createHash('sha3-256').update(CHECKSUM_PREFIX).update(publicKey).update(Uint8Array.of(ONION_VERSION)).digest();
  return new Uint8Array(digest.subarray(0, 2));
}

/**
 * The v3 onion address of an Ed25519 public key: lower-case base32 (RFC 4648, no padding) of
 * `pubkey ‖ SHA3-256(".onion checksum" ‖ pubkey ‖ 0x03)[0..2] ‖ 0x03`, plus `.onion`.
 * Throws a RangeError when `publicKey` is not 32 bytes.
 */
export function onionAddress(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new RangeError(`an Ed25519 public key has 32 bytes, not ${publicKey.length}`);
  const payload = concat(publicKey, onionChecksum(publicKey), Uint8Array.of(ONION_VERSION));
  return `${base32nopad.encode(payload).toLowerCase()}${ONION_SUFFIX}`;
}

/**
 * The public key inside a v3 onion address (`<56>.onion`, or the 56 characters alone; lower case).
 * Returns null when `s` is not exactly that: wrong length or alphabet, wrong version byte, or a
 * checksum that does not match (one mistyped character). Never throws.
 */
export function parseOnionAddress(s: string): Uint8Array | null {
  const label = s.endsWith(ONION_SUFFIX) ? s.slice(0, -ONION_SUFFIX.length) : s;
  if (!new RegExp(`^[a-z2-7]{${ADDRESS_CHARS}}$`).test(label)) return null;
  let payload: Uint8Array;
  try {
    payload = base32nopad.decode(label.toUpperCase());
  } catch {
    return null; // non-zero padding bits in the last character
  }
  const publicKey = payload.slice(0, 32);
  if (payload[34] !== ONION_VERSION) return null;
  if (!bytesEqual(payload.subarray(32, 34), onionChecksum(publicKey))) return null;
  return publicKey;
}

/** True when `s` is a valid v3 onion address (see {@link parseOnionAddress}). Never throws. */
export function isOnionAddress(s: string): boolean {
  return parseOnionAddress(s) !== null;
}

/** The 64-byte expanded secret key tor stores: SHA-512(seed), clamped. */
function expandSeed(seed: Uint8Array): Uint8Array {
  const h = new Uint8Array(createHash('sha512').update(seed).digest());
  h[0] = (h[0] ?? 0) & 248;
  h[31] = ((h[31] ?? 0) & 63) | 64;
  return h;
}

/**
 * All of a HiddenServiceDir's files from a 32-byte Ed25519 seed. Deterministic: the same seed
 * always gives the same service. Throws a RangeError when `seed` is not 32 bytes.
 */
export function onionKeysFromSeed(seed: Uint8Array): OnionKeys {
  if (seed.length !== 32) throw new RangeError(`an Ed25519 seed has 32 bytes, not ${seed.length}`);
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' });
  if (x === undefined) throw new InternalError('node:crypto exported an Ed25519 public key without "x"');
  const publicKey = new Uint8Array(Buffer.from(x, 'base64url'));
  return {
    secretKeyFile: concat(keyFileHeader(SECRET_KEY_FILE_HEADER), expandSeed(seed)),
    publicKeyFile: publicKeyFileOf(publicKey),
    publicKey,
    hostname: onionAddress(publicKey),
  };
}

/** A fresh random onion service (32 bytes from `crypto.randomBytes`). The only random entry point for service keys. */
export function randomOnionKeys(): OnionKeys {
  return onionKeysFromSeed(new Uint8Array(randomBytes(32)));
}

/** The contents of `hs_ed25519_public_key` for a public key. Throws a RangeError when it is not 32 bytes. */
export function publicKeyFileOf(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== 32) throw new RangeError(`an Ed25519 public key has 32 bytes, not ${publicKey.length}`);
  return concat(keyFileHeader(PUBLIC_KEY_FILE_HEADER), publicKey);
}

/** The public key in an `hs_ed25519_public_key` file; null when its length or header is wrong. Never throws. */
export function parsePublicKeyFile(file: Uint8Array): Uint8Array | null {
  return keyFileBody(file, PUBLIC_KEY_FILE_HEADER, PUBLIC_KEY_FILE_BYTES);
}

/**
 * True when `file` looks like an `hs_ed25519_secret_key`: 96 bytes, the right header, and a
 * clamped scalar (low 3 bits clear, top bits `01`). Never throws.
 */
export function isSecretKeyFile(file: Uint8Array): boolean {
  const expanded = keyFileBody(file, SECRET_KEY_FILE_HEADER, SECRET_KEY_FILE_BYTES);
  if (expanded === null) return false;
  return ((expanded[0] ?? 1) & 7) === 0 && ((expanded[31] ?? 0) & 0xc0) === 0x40;
}

/**
 * The public key of an `hs_ed25519_secret_key` file. Tor keeps only the expanded key, so this
 * multiplies the base point by its clamped scalar (`h[0..32]`, little-endian) with @noble/curves.
 * Returns null when the file is not a secret key file ({@link isSecretKeyFile}). Never throws.
 */
export function publicKeyFromSecretKeyFile(file: Uint8Array): Uint8Array | null {
  if (!isSecretKeyFile(file)) return null;
  const scalarBytes = file.subarray(KEY_FILE_HEADER_BYTES, KEY_FILE_HEADER_BYTES + 32);
  const scalar = BigInt(`0x${Buffer.from(scalarBytes).reverse().toString('hex')}`) % ED25519_L;
  if (scalar === 0n) return null; // cannot come from a seed; multiply() refuses it
  return ed25519.Point.BASE.multiply(scalar).toBytes();
}

/**
 * A fresh x25519 key pair for v3 client authorization (`generateKeyPairSync('x25519')`; JWK `d`
 * and `x` are the raw 32-byte keys), as 52-character upper-case base32 without padding.
 */
export function clientAuthKeyPair(): ClientAuthKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  const { x } = publicKey.export({ format: 'jwk' });
  const { d } = privateKey.export({ format: 'jwk' });
  if (x === undefined || d === undefined) throw new InternalError('node:crypto exported an x25519 key without "x" or "d"');
  const base32 = (b64url: string) => base32nopad.encode(Buffer.from(b64url, 'base64url'));
  return { publicKeyBase32: base32(x), privateKeyBase32: base32(d) };
}

const CLIENT_KEY = /^[A-Z2-7]{52}$/;
/** PKCS#8 DER prefix of an X25519 private key (RFC 8410); the 32-byte key follows it. */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/**
 * The public half (52-character base32) of a client-authorization private key given as 52-character
 * base32. Throws a RangeError when `privateKeyBase32` is malformed.
 */
export function clientAuthPublicKeyOf(privateKeyBase32: string): string {
  if (!CLIENT_KEY.test(privateKeyBase32)) throw new RangeError('expected a 52-character upper-case base32 x25519 private key');
  const der = Buffer.concat([X25519_PKCS8_PREFIX, base32nopad.decode(privateKeyBase32)]);
  const { x } = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
  if (x === undefined) throw new InternalError('node:crypto exported an x25519 key without "x"');
  return base32nopad.encode(Buffer.from(x, 'base64url'));
}

/**
 * The one line of a service-side `authorized_clients/<name>.auth` file (no newline).
 * Throws a RangeError when `publicKeyBase32` is not 52 upper-case base32 characters.
 */
export function authorizedClientLine(publicKeyBase32: string): string {
  if (!CLIENT_KEY.test(publicKeyBase32)) throw new RangeError('expected a 52-character upper-case base32 x25519 public key');
  return `descriptor:x25519:${publicKeyBase32}`;
}

/**
 * The one line of a client-side `<ClientOnionAuthDir>/<name>.auth_private` file (no newline).
 * Throws a RangeError when `onionAddressWithoutSuffix` is not a valid 56-character v3 address
 * (without `.onion`) or `privateKeyBase32` is not 52 upper-case base32 characters.
 */
export function clientAuthPrivateLine(onionAddressWithoutSuffix: string, privateKeyBase32: string): string {
  if (onionAddressWithoutSuffix.endsWith(ONION_SUFFIX) || !isOnionAddress(onionAddressWithoutSuffix)) {
    throw new RangeError('expected the 56-character onion address without ".onion"');
  }
  if (!CLIENT_KEY.test(privateKeyBase32)) throw new RangeError('expected a 52-character upper-case base32 x25519 private key');
  return `${onionAddressWithoutSuffix}:descriptor:x25519:${privateKeyBase32}`;
}
