/**
 * onionfleet's SSH signatures against the real OpenSSH `ssh-keygen` (Debian's openssh-client): for a
 * key ssh-keygen made, the in-process signature is byte for byte the one `ssh-keygen -Y sign`
 * writes, and the key text and fingerprint are ssh-keygen's; `ssh-keygen -Y verify` accepts an
 * in-process signature against the allowed_signers line onionfleet writes, and refuses it for
 * another principal, another namespace, or a message with one byte changed; the in-process check
 * accepts ssh-keygen's own signatures.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { publicKeyOf } from '#shared/crypto/sign.ts';
import { allowedSignersLine, sshFingerprint, sshPublicKey, sshSign, verifySshSignature } from '#shared/crypto/sshsig.ts';

const NS = 'onionfleet-bundle';

/** The 32-byte seed of an unencrypted OpenSSH ed25519 private key file (openssh-key-v1), base64url. */
function opensshSeed(file: string): string {
  const b64 = readFileSync(file, 'utf8').split('\n').filter((l) => !l.startsWith('-----')).join('');
  const buf = Buffer.from(b64, 'base64');
  let at = 'openssh-key-v1\0'.length;
  const next = () => {
    const len = buf.readUInt32BE(at);
    const value = buf.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    return value;
  };
  next(); next(); next(); // cipher "none", kdf "none", kdf options
  at += 4; // one key
  next(); // its public key
  const priv = next();
  // check1, check2, then string keytype, string pub(32), string priv(64 = seed ‖ pub)
  let p = 8;
  const field = () => {
    const len = priv.readUInt32BE(p);
    const value = priv.subarray(p + 4, p + 4 + len);
    p += 4 + len;
    return value;
  };
  expect(field().toString()).toBe('ssh-ed25519');
  field();
  return field().subarray(0, 32).toString('base64url');
}

const keygen = (args: string[], input?: Uint8Array) => spawnSync('ssh-keygen', args, { input, encoding: 'utf8' });

describe('SSH signatures and the real ssh-keygen', () => {
  const dir = mkdtempSync(join(tmpdir(), 'onionfleet-sshsig-'));
  const keyFile = join(dir, 'id');
  keygen(['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', keyFile]);
  const secretKey = opensshSeed(keyFile);
  const publicKey = publicKeyOf(secretKey);
  const message = new TextEncoder().encode('-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBhYmMK\n-----END AGE ENCRYPTED FILE-----\n');
  const messageFile = join(dir, 'bundle.age');
  writeFileSync(messageFile, message);

  it('signs byte for byte as `ssh-keygen -Y sign`; the key text and fingerprint are ssh-keygen\'s', () => {
    const signed = keygen(['-Y', 'sign', '-f', keyFile, '-n', NS, messageFile]);
    expect(signed.status, signed.stderr).toBe(0);
    expect(sshSign(secretKey, publicKey, NS, message)).toBe(readFileSync(`${messageFile}.sig`, 'utf8'));
    expect(sshPublicKey(publicKey)).toBe(readFileSync(`${keyFile}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' '));
    expect(keygen(['-l', '-f', `${keyFile}.pub`]).stdout).toContain(` ${sshFingerprint(publicKey)} `);
    expect(verifySshSignature(readFileSync(`${messageFile}.sig`, 'utf8'), NS, message)).toEqual({ ok: true, key: publicKey });
  });

  it('`ssh-keygen -Y verify` accepts the in-process signature for the allowed_signers line, and nothing else', () => {
    const sigFile = join(dir, 'ours.sig');
    writeFileSync(sigFile, sshSign(secretKey, publicKey, NS, message));
    const allowed = join(dir, 'allowed_signers');
    writeFileSync(allowed, `${allowedSignersLine('newsroom', publicKey, NS)}\n`);
    const verify = (principal: string, namespace: string, input: Uint8Array) => keygen(['-Y', 'verify', '-f', allowed, '-I', principal, '-n', namespace, '-s', sigFile], input);
    const good = verify('newsroom', NS, message);
    expect(good.status, good.stderr).toBe(0);
    expect(good.stdout).toContain(`Good "${NS}" signature for newsroom with ED25519 key ${sshFingerprint(publicKey)}`);
    expect(verify('family', NS, message).status).not.toBe(0);
    expect(verify('newsroom', 'file', message).status).not.toBe(0);
    for (const i of [0, 40, message.length - 1]) {
      const altered = message.slice();
      altered[i] = (altered[i] ?? 0) ^ 0x20;
      expect(verify('newsroom', NS, altered).status, `byte ${i}`).not.toBe(0);
    }
  });
});
