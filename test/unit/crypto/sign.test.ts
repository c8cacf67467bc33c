/**
 * Ed25519 signing keys as text. The fixed vector is RFC 8032 §7.1 TEST 1 (empty message); the
 * fingerprint is computed here from the RFC's hex bytes, independently of the base64url parsing.
 */
import { createHash } from 'node:crypto';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { runs } from '../../support/runs.ts';
import { generateSigningKey, keyFingerprint, publicKeyOf, sign, verify } from '#shared/crypto/sign.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { SigningPublicKey } from '#shared/schema/enrollment.ts';

const hexToB64url = (hex: string): string => Buffer.from(hex, 'hex').toString('base64url');
const RFC_SEED = hexToB64url('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const RFC_PUBLIC_HEX = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const RFC_PUBLIC = `ed25519:${hexToB64url(RFC_PUBLIC_HEX)}`;
const RFC_SIG = hexToB64url(
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('RFC 8032 test vector 1', () => {
  it('derives the public key from the seed', () => {
    expect(publicKeyOf(RFC_SEED)).toBe(RFC_PUBLIC);
  });
  it('signs the empty message with the published signature', () => {
    expect(sign(RFC_SEED, new Uint8Array())).toBe(RFC_SIG);
    expect(verify(RFC_PUBLIC, new Uint8Array(), RFC_SIG)).toBe(true);
  });
  it('fingerprints as SHA256: + unpadded base64 of SHA-256 over the raw 32 bytes', () => {
    const expected = createHash('sha256').update(Buffer.from(RFC_PUBLIC_HEX, 'hex')).digest('base64').replace(/=+$/, '');
    expect(keyFingerprint(RFC_PUBLIC)).toBe(`SHA256:${expected}`);
    expect(keyFingerprint(RFC_PUBLIC)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});

describe('generateSigningKey', () => {
  it('makes a pair whose public half matches the schema and the secret half', () => {
    const pair = generateSigningKey();
    expect(SigningPublicKey.safeParse(pair.publicKey).success).toBe(true);
    expect(pair.secretKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(publicKeyOf(pair.secretKey)).toBe(pair.publicKey);
  });
  it('makes a different pair each time', () => {
    expect(generateSigningKey().secretKey).not.toBe(generateSigningKey().secretKey);
  });
});

describe('verify', () => {
  const pair = generateSigningKey();
  const message = bytes('desired.pi-1 revision 7');
  const sig = sign(pair.secretKey, message);

  it('accepts the signature over the very bytes', () => {
    expect(sig).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(verify(pair.publicKey, message, sig)).toBe(true);
  });
  it('rejects another message, another key and a flipped signature bit', () => {
    expect(verify(pair.publicKey, bytes('desired.pi-1 revision 8'), sig)).toBe(false);
    expect(verify(generateSigningKey().publicKey, message, sig)).toBe(false);
    const raw = Buffer.from(sig, 'base64url');
    raw[10] = (raw[10] ?? 0) ^ 1;
    expect(verify(pair.publicKey, message, raw.toString('base64url'))).toBe(false);
  });
  it('rejects non-canonical base64url that decodes to the same bytes', () => {
    // The 43rd character carries 4 padding bits; changing them keeps Buffer's decoding the same.
    const last = pair.publicKey.at(-1) ?? 'A';
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = alphabet[alphabet.indexOf(last) ^ 1] ?? 'A';
    const aliased = `${pair.publicKey.slice(0, -1)}${twin}`;
    expect(Buffer.from(aliased.slice(8), 'base64url')).toEqual(Buffer.from(pair.publicKey.slice(8), 'base64url'));
    expect(verify(aliased, message, sig)).toBe(false);
  });
  it.each([
    ['no prefix', () => pair.publicKey.slice(8)],
    ['another prefix', () => `x25519:${pair.publicKey.slice(8)}`],
    ['too short', () => pair.publicKey.slice(0, -1)],
    ['padded', () => `${pair.publicKey}=`],
    ['empty', () => ''],
  ])('returns false for a public key with %s', (_label, key) => {
    expect(verify(key(), message, sig)).toBe(false);
  });
  test.prop([fc.string(), fc.uint8Array({ maxLength: 64 }), fc.string()], { numRuns: runs(200) })(
    'never throws on arbitrary input',
    (key, msg, signature) => {
      expect(verify(key, msg, signature)).toBe(false);
      expect(verify(pair.publicKey, msg, signature)).toBe(false);
    },
  );
  test.prop([fc.uint8Array({ maxLength: 256 })], { numRuns: runs(100) })('sign → verify round trips', (msg) => {
    expect(verify(pair.publicKey, msg, sign(pair.secretKey, msg))).toBe(true);
  });
});

describe('malformed secret or public keys', () => {
  it.each(['', 'short', `${RFC_SEED}=`, `${RFC_SEED.slice(0, -1)}!`])('sign and publicKeyOf throw InvalidInputError for %j', (secret) => {
    expect(() => sign(secret, new Uint8Array())).toThrow(InvalidInputError);
    expect(() => publicKeyOf(secret)).toThrow(InvalidInputError);
  });
  it('does not quote the bad key in the message', () => {
    const secret = `${RFC_SEED}x`;
    let message = '';
    try {
      sign(secret, new Uint8Array());
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('expected base64url of a 32-byte ed25519 seed');
    expect(message).not.toContain(RFC_SEED.slice(0, 12));
  });
  it('keyFingerprint throws InvalidInputError for a malformed public key', () => {
    expect(() => keyFingerprint(RFC_SEED)).toThrow(InvalidInputError);
    expect(() => keyFingerprint(`ed25519:${RFC_SEED}A`)).toThrow(InvalidInputError);
  });
});
