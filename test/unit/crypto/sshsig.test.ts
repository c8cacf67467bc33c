/**
 * SSH signatures made and checked in-process: a signature verifies for its message, key and
 * namespace only; a change of any one byte of the message, or of the signature's blob, is refused;
 * the armor and the key texts round-trip; malformed input is refused without throwing. (That
 * `ssh-keygen -Y verify` accepts these, and that they are byte for byte `ssh-keygen -Y sign`'s, is
 * test/integration/ssh-signature.test.ts.)
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { generateSigningKey } from '#shared/crypto/sign.ts';
import { allowedSignersLine, parseSshPublicKey, sshFingerprint, sshPublicKey, sshSign, verifySshSignature } from '#shared/crypto/sshsig.ts';
import { runs } from '../../support/runs.ts';

const KEY = generateSigningKey();
const OTHER = generateSigningKey();
const NS = 'onionfleet-bundle';
const MESSAGE = new TextEncoder().encode('-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3Yx\n-----END AGE ENCRYPTED FILE-----\n');
const SIG = sshSign(KEY.secretKey, KEY.publicKey, NS, MESSAGE);

/** The signature's binary blob, and the armor of another blob. */
const blobOf = (armored: string) => Buffer.from(armored.split('\n').slice(1, -2).join(''), 'base64');
const armor = (blob: Buffer) => `-----BEGIN SSH SIGNATURE-----\n${(blob.toString('base64').match(/.{1,70}/g) ?? []).join('\n')}\n-----END SSH SIGNATURE-----\n`;

describe('sshSign → verifySshSignature', () => {
  it('verifies for its message and namespace, naming the signer', () => {
    expect(SIG).toMatch(/^-----BEGIN SSH SIGNATURE-----\n(?:[A-Za-z0-9+/=]{1,70}\n)+-----END SSH SIGNATURE-----\n$/);
    expect(verifySshSignature(SIG, NS, MESSAGE)).toEqual({ ok: true, key: KEY.publicKey });
    expect(sshSign(KEY.secretKey, KEY.publicKey, NS, MESSAGE)).toBe(SIG); // deterministic
  });

  it('refuses the message after any one byte changed, whichever', () => {
    for (let i = 0; i < MESSAGE.length; i++) {
      const altered = MESSAGE.slice();
      altered[i] = (altered[i] ?? 0) ^ 0x01;
      expect(verifySshSignature(SIG, NS, altered), `byte ${i}`).toMatchObject({ ok: false, reason: 'bad-signature' });
    }
    expect(verifySshSignature(SIG, NS, MESSAGE.subarray(1))).toMatchObject({ ok: false });
    expect(verifySshSignature(SIG, NS, new Uint8Array([...MESSAGE, 10]))).toMatchObject({ ok: false });
  });

  it('refuses the signature after any one byte of its blob changed, whichever', () => {
    const blob = blobOf(SIG);
    for (let i = 0; i < blob.length; i++) {
      const altered = Buffer.from(blob);
      altered[i] = (altered[i] ?? 0) ^ 0x01;
      expect(verifySshSignature(armor(altered), NS, MESSAGE).ok, `byte ${i}`).toBe(false);
    }
  });

  test.prop([fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 })], { numRuns: runs(50) })('a signature fits its own message only', (a, b) => {
    const sig = sshSign(KEY.secretKey, KEY.publicKey, NS, a);
    expect(verifySshSignature(sig, NS, a)).toEqual({ ok: true, key: KEY.publicKey });
    expect(verifySshSignature(sig, NS, b).ok).toBe(Buffer.from(a).equals(Buffer.from(b)));
  });

  it('refuses another namespace, and damaged or foreign armor, without throwing', () => {
    expect(verifySshSignature(SIG, 'file', MESSAGE)).toMatchObject({ ok: false, reason: 'wrong-namespace' });
    expect(verifySshSignature(sshSign(KEY.secretKey, KEY.publicKey, 'git', MESSAGE), NS, MESSAGE)).toMatchObject({ ok: false, reason: 'wrong-namespace' });
    expect(verifySshSignature('', NS, MESSAGE)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifySshSignature(SIG.replace('SSH SIGNATURE', 'PGP SIGNATURE'), NS, MESSAGE)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifySshSignature(armor(blobOf(SIG).subarray(0, 40)), NS, MESSAGE)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifySshSignature(armor(Buffer.concat([blobOf(SIG), Buffer.from([0])])), NS, MESSAGE)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifySshSignature(SIG.replace(/\n/g, '\r\n'), NS, MESSAGE)).toEqual({ ok: true, key: KEY.publicKey }); // a file that went through Windows
  });

  it('a signature names its own key: another key\'s signature does not pass as this one\'s', () => {
    const other = sshSign(OTHER.secretKey, OTHER.publicKey, NS, MESSAGE);
    expect(verifySshSignature(other, NS, MESSAGE)).toEqual({ ok: true, key: OTHER.publicKey });
    // Swapping the key inside the blob for KEY's makes the signature fail, not verify as KEY.
    const blob = blobOf(other);
    const swapped = Buffer.from(blob.toString('hex').replace(Buffer.from(OTHER.publicKey.slice(8), 'base64url').toString('hex'), Buffer.from(KEY.publicKey.slice(8), 'base64url').toString('hex')), 'hex');
    expect(verifySshSignature(armor(swapped), NS, MESSAGE)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });
});

describe('key texts', () => {
  it('ssh-ed25519 text round-trips; other texts are null', () => {
    const text = sshPublicKey(KEY.publicKey);
    expect(text).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}$/);
    expect(parseSshPublicKey(text)).toBe(KEY.publicKey);
    expect(parseSshPublicKey(`${text} admin@laptop`)).toBe(KEY.publicKey);
    expect(parseSshPublicKey(text.slice(0, -2))).toBeNull();
    expect(parseSshPublicKey('ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ')).toBeNull();
    expect(parseSshPublicKey(KEY.publicKey)).toBeNull();
  });

  it('the fingerprint is SHA256 of the wire blob (not of the bare key), 50 characters', () => {
    expect(sshFingerprint(KEY.publicKey)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(sshFingerprint(KEY.publicKey)).not.toBe(sshFingerprint(OTHER.publicKey));
    expect(() => sshFingerprint('ed25519:short')).toThrow(/expected ed25519/);
  });

  it('the allowed_signers line names principal, namespace and key; odd characters are refused', () => {
    expect(allowedSignersLine('demo', KEY.publicKey, NS)).toBe(`demo namespaces="onionfleet-bundle" ${sshPublicKey(KEY.publicKey)}`);
    expect(() => allowedSignersLine('a b', KEY.publicKey, NS)).toThrow(/principal/);
    expect(() => allowedSignersLine('*', KEY.publicKey, NS)).toThrow(/principal/);
  });
});
