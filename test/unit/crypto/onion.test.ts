/**
 * Onion keys and addresses against external vectors (RFC 8032 test 1, real published v3 addresses,
 * an expanded key tor accepted in ADD_ONION), an independent re-derivation with a hand-written
 * RFC 4648 encoder, and properties over random seeds. The real-tor proof is in
 * test/integration/onion-keys-tor.test.ts.
 */
import { createHash } from 'node:crypto';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { runs } from '../../support/runs.ts';
import {
  authorizedClientLine,
  clientAuthKeyPair,
  clientAuthPrivateLine,
  isOnionAddress,
  isSecretKeyFile,
  onionAddress,
  onionKeysFromSeed,
  parseOnionAddress,
  parsePublicKeyFile,
  publicKeyFromSecretKeyFile,
  randomOnionKeys,
} from '#shared/crypto/onion.ts';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const RFC8032_SEED = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const RFC8032_PUBLIC = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
/** The address of RFC 8032 test 1's key, as published by several independent v3 implementations. */
const RFC8032_ONION = '25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion';
/** Its expanded key, which tor accepts in `ADD_ONION ED25519-V3:` and answers with the address above. */
const RFC8032_EXPANDED_B64 = 'MHyDhk8oM8tCei7xwAoBPP3/J2jZgMCjpSDwBpBN6U+bTwr+KAt0aneGhOdUQlAgV7dHOgPwj5b1o46Sh+Afjw==';
/** Real, long-published v3 addresses (the Tor Project, DuckDuckGo): their checksums must verify. */
const PUBLISHED = [
  '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion',
  'duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion',
];

/** RFC 4648 §6 base32, lower case, no padding — written out here so it cannot share a bug with the library. */
function base32(bytes: Uint8Array): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet.charAt((value >>> (bits - 5)) & 31);
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet.charAt((value << (5 - bits)) & 31);
  return out;
}

function expectedAddress(publicKey: Uint8Array): string {
  const version = Buffer.of(3);
  const checksum = createHash('sha3-256').update('.onion checksum').update(publicKey).update(version).digest().subarray(0, 2);
  return `${base32(Buffer.concat([publicKey, checksum, version]))}.onion`;
}

const header = (file: Uint8Array) => Buffer.from(file.subarray(0, 32)).toString('latin1');
const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('onion addresses', () => {
  it('RFC 8032 test 1: seed → public key → the published address', () => {
    const keys = onionKeysFromSeed(RFC8032_SEED);
    expect(keys.publicKey).toEqual(RFC8032_PUBLIC);
    expect(keys.hostname).toBe(RFC8032_ONION);
    expect(onionAddress(RFC8032_PUBLIC)).toBe(RFC8032_ONION);
    expect(expectedAddress(RFC8032_PUBLIC)).toBe(RFC8032_ONION);
    expect(Buffer.from(keys.secretKeyFile.subarray(32)).toString('base64')).toBe(RFC8032_EXPANDED_B64);
  });

  it.each(PUBLISHED)('parses and re-encodes the published address %s', (address) => {
    const publicKey = parseOnionAddress(address);
    expect(publicKey).not.toBeNull();
    expect(onionAddress(publicKey!)).toBe(address);
    expect(expectedAddress(publicKey!)).toBe(address);
  });

  it('accepts the 56 characters without ".onion" too', () => {
    expect(parseOnionAddress(RFC8032_ONION.slice(0, 56))).toEqual(RFC8032_PUBLIC);
  });

  it('rejects every single-character change (the checksum catches it)', () => {
    const label = RFC8032_ONION.slice(0, 56);
    for (let i = 0; i < 56; i++) {
      const replacement = label[i] === 'a' ? 'b' : 'a';
      const flipped = `${label.slice(0, i)}${replacement}${label.slice(i + 1)}.onion`;
      expect(parseOnionAddress(flipped), `position ${i}`).toBeNull();
    }
  });

  it('rejects a wrong version byte even with a checksum made for it', () => {
    for (const version of [0x00, 0x02, 0x04, 0xff]) {
      const checksum = createHash('sha3-256').update('.onion checksum').update(RFC8032_PUBLIC).update(Buffer.of(version)).digest().subarray(0, 2);
      const address = `${base32(Buffer.concat([RFC8032_PUBLIC, checksum, Buffer.of(version)]))}.onion`;
      expect(address).toHaveLength(62);
      expect(isOnionAddress(address), `version ${version}`).toBe(false);
    }
  });

  it.each([
    ['too short', RFC8032_ONION.slice(1)],
    ['too long', `a${RFC8032_ONION}`],
    ['upper case', RFC8032_ONION.toUpperCase()],
    ['a v2 address', 'expyuzz4wqqyqhjn.onion'],
    ['outside the alphabet', `${RFC8032_ONION.slice(0, 55)}1.onion`],
    ['another suffix', `${RFC8032_ONION.slice(0, 56)}.onion.example`],
    ['empty', ''],
  ])('rejects %s', (_why, address) => {
    expect(parseOnionAddress(address)).toBeNull();
  });

  it('throws on a public key of the wrong length', () => {
    expect(() => onionAddress(new Uint8Array(31))).toThrow(RangeError);
  });
});

describe('key files', () => {
  it('have tor\'s sizes and NUL-padded headers', () => {
    const keys = onionKeysFromSeed(RFC8032_SEED);
    expect(keys.secretKeyFile).toHaveLength(96);
    expect(keys.publicKeyFile).toHaveLength(64);
    expect(header(keys.secretKeyFile)).toBe(`== ed25519v1-secret: type0 ==${'\0'.repeat(3)}`);
    expect(header(keys.publicKeyFile)).toBe(`== ed25519v1-public: type0 ==${'\0'.repeat(3)}`);
    expect(keys.publicKeyFile.subarray(32)).toEqual(RFC8032_PUBLIC);
  });

  it('hold SHA-512(seed) clamped: h[0] &= 248, h[31] &= 63, h[31] |= 64', () => {
    const seed = new Uint8Array(32).fill(0xff);
    const raw = createHash('sha512').update(seed).digest();
    const expanded = onionKeysFromSeed(seed).secretKeyFile.subarray(32);
    expect(expanded[0]).toBe(raw[0]! & 248);
    expect(expanded[31]).toBe((raw[31]! & 63) | 64);
    expect(Buffer.from(expanded.subarray(1, 31))).toEqual(raw.subarray(1, 31));
    expect(Buffer.from(expanded.subarray(32))).toEqual(raw.subarray(32));
  });

  it('refuse seeds of the wrong length', () => {
    expect(() => onionKeysFromSeed(new Uint8Array(64))).toThrow(RangeError);
  });

  it('give the public key back from the secret key file alone', () => {
    expect(publicKeyFromSecretKeyFile(onionKeysFromSeed(RFC8032_SEED).secretKeyFile)).toEqual(RFC8032_PUBLIC);
  });

  it('are refused when the header, length or clamping is wrong', () => {
    const good = onionKeysFromSeed(RFC8032_SEED).secretKeyFile;
    const badHeader = Uint8Array.from(good);
    badHeader[3] = 0x21;
    const unclamped = Uint8Array.from(good);
    unclamped[32] = (unclamped[32] ?? 0) | 1;
    for (const file of [badHeader, unclamped, good.subarray(0, 95), new Uint8Array(96), onionKeysFromSeed(RFC8032_SEED).publicKeyFile]) {
      expect(isSecretKeyFile(file)).toBe(false);
      expect(publicKeyFromSecretKeyFile(file)).toBeNull();
    }
    expect(parsePublicKeyFile(good)).toBeNull();
    expect(parsePublicKeyFile(new Uint8Array(64))).toBeNull();
  });

  it('come fresh from randomOnionKeys', () => {
    const a = randomOnionKeys();
    const b = randomOnionKeys();
    expect(a.hostname).not.toBe(b.hostname);
    expect(isOnionAddress(a.hostname)).toBe(true);
  });
});

describe('properties over random seeds', () => {
  test.prop([seedArb], { numRuns: runs(200) })('parse(address(pk)) is pk, and matches the independent encoder', (seed) => {
    const { publicKey, hostname } = onionKeysFromSeed(seed);
    expect(hostname).toMatch(/^[a-z2-7]{56}\.onion$/);
    expect(hostname).toBe(expectedAddress(publicKey));
    expect(parseOnionAddress(hostname)).toEqual(publicKey);
  });

  test.prop([seedArb], { numRuns: runs(100) })('secret and public key files agree, and the secret file is clamped', (seed) => {
    const keys = onionKeysFromSeed(seed);
    expect(isSecretKeyFile(keys.secretKeyFile)).toBe(true);
    expect(parsePublicKeyFile(keys.publicKeyFile)).toEqual(keys.publicKey);
    expect(publicKeyFromSecretKeyFile(keys.secretKeyFile)).toEqual(keys.publicKey);
    expect(onionKeysFromSeed(seed)).toEqual(keys); // deterministic
  });
});

describe('client authorization keys', () => {
  it('are 52-character upper-case base32 x25519 keys that belong together', async () => {
    const pair = clientAuthKeyPair();
    expect(pair.publicKeyBase32).toMatch(/^[A-Z2-7]{52}$/);
    expect(pair.privateKeyBase32).toMatch(/^[A-Z2-7]{52}$/);
    const { base32nopad } = await import('@scure/base');
    const { createPrivateKey, createPublicKey } = await import('node:crypto');
    const raw = (s: string) => Buffer.from(base32nopad.decode(s));
    expect(raw(pair.publicKeyBase32)).toHaveLength(32);
    const d = raw(pair.privateKeyBase32);
    expect(d).toHaveLength(32);
    // x25519 PKCS#8 prefix (RFC 8410) + d → its public key must be ours.
    const priv = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), d]), format: 'der', type: 'pkcs8' });
    const x = createPublicKey(priv).export({ format: 'jwk' }).x!;
    expect(Buffer.from(x, 'base64url')).toEqual(raw(pair.publicKeyBase32));
    expect(clientAuthKeyPair().privateKeyBase32).not.toBe(pair.privateKeyBase32);
  });

  it('render tor\'s .auth and .auth_private lines', () => {
    const pub = 'A'.repeat(52);
    const priv = 'B'.repeat(52);
    const label = RFC8032_ONION.slice(0, 56);
    expect(authorizedClientLine(pub)).toBe(`descriptor:x25519:${pub}`);
    expect(clientAuthPrivateLine(label, priv)).toBe(`${label}:descriptor:x25519:${priv}`);
  });

  it('refuse malformed keys and addresses', () => {
    expect(() => authorizedClientLine('a'.repeat(52))).toThrow(RangeError);
    expect(() => authorizedClientLine('A'.repeat(51))).toThrow(RangeError);
    expect(() => clientAuthPrivateLine(RFC8032_ONION, 'B'.repeat(52))).toThrow(RangeError);
    expect(() => clientAuthPrivateLine(RFC8032_ONION.slice(0, 56), 'B'.repeat(53))).toThrow(RangeError);
  });
});
