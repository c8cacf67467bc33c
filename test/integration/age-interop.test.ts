/**
 * Proof with the real Debian `age` CLI that shared/crypto/age.ts writes and reads standard age v1
 * files: X25519 recipients both ways (ours written on node:crypto, shared/crypto/age-x25519.ts,
 * across the 64 KiB chunk boundary), binary and ASCII armor, and scrypt passphrases both ways. The
 * CLI reads passphrases only from a terminal, so those cases run it under util-linux `script`, which
 * gives it a pseudo-terminal fed from our stdin. Also the AgeError contract (codes, scrubbed causes).
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgeError, ageRecipientOf, decryptWith, decryptWithPassphrase, encryptTo, encryptWithPassphrase, generateAgeIdentity,
} from '#shared/crypto/age.ts';

const TIMEOUT_MS = 20_000;
const hasAge = spawnSync('age', ['--version']).status === 0 && spawnSync('age-keygen', ['--version']).status === 0;
const hasScript = spawnSync('script', ['--version']).status === 0;
const PLAINTEXT = new TextEncoder().encode('desired state for pi-1: {"password":"S3cret-S3cret-S3cret"}\n');
/** Letters and spaces only: it goes through a shell command line's stdin and a terminal line. */
const PASSPHRASE = 'correct horse battery staple';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'onionfleet-age-'));
  await chmod(dir, 0o700);
});
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

/** Runs a CLI to completion; throws with its stderr when it fails. */
function run(command: string, args: readonly string[], input?: string): Buffer {
  const result = spawnSync(command, args, { input, timeout: TIMEOUT_MS });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${String(result.status)}: ${result.stderr.toString()}`);
  return result.stdout;
}

/** Runs `age …` on a pseudo-terminal (util-linux `script`) whose input is `typed`. Paths must be shell-safe. */
function ageOnTty(args: readonly string[], typed: string): void {
  for (const arg of args) if (!/^[\w./-]+$/.test(arg)) throw new Error(`not shell-safe: ${arg}`);
  run('script', ['-qec', `age ${args.join(' ')}`, '/dev/null'], typed);
}

describe.skipIf(!hasAge)('age CLI interop: recipients', () => {
  it('age-keygen -y derives the recipient we derive', async () => {
    const { identity, recipient } = await generateAgeIdentity();
    const keyFile = join(dir, 'derive.key');
    await writeFile(keyFile, `${identity}\n`, { mode: 0o600 });
    expect(run('age-keygen', ['-y', keyFile]).toString().trim()).toBe(recipient);
    expect(await ageRecipientOf(identity)).toBe(recipient);
  });

  it.each([true, false])('age -d decrypts what encryptTo wrote (armor: %s)', async (armor) => {
    const { identity, recipient } = await generateAgeIdentity();
    const keyFile = join(dir, `ours-${String(armor)}.key`);
    const file = join(dir, `ours-${String(armor)}.age`);
    await writeFile(keyFile, `# created by the test\n${identity}\n`, { mode: 0o600 });
    const ciphertext = await encryptTo([recipient], PLAINTEXT, { armor });
    expect(new TextDecoder().decode(ciphertext.subarray(0, 34)) === '-----BEGIN AGE ENCRYPTED FILE-----').toBe(armor);
    await writeFile(file, ciphertext);
    expect(new Uint8Array(run('age', ['-d', '-i', keyFile, file]))).toEqual(PLAINTEXT);
  });

  // encryptTo writes X25519 files itself (shared/crypto/age-x25519.ts): the reference
  // implementation checks its chunking at the 64 KiB STREAM boundary, and three recipients.
  it.each([0, 1, 64 * 1024, 64 * 1024 + 1, 200 * 1024])('age -d decrypts %i bytes that encryptTo wrote to three recipients', async (size) => {
    const keys = await Promise.all([generateAgeIdentity(), generateAgeIdentity(), generateAgeIdentity()]);
    const plaintext = new Uint8Array(size).map((_, i) => (i * 7 + (i >>> 16)) & 0xff);
    const file = join(dir, `sized-${size}.age`);
    await writeFile(file, await encryptTo(keys.map((k) => k.recipient), plaintext, { armor: size % 2 === 1 }));
    for (const [n, { identity }] of keys.entries()) {
      const keyFile = join(dir, `sized-${size}-${n}.key`);
      await writeFile(keyFile, `${identity}\n`, { mode: 0o600 });
      expect(new Uint8Array(run('age', ['-d', '-i', keyFile, file]))).toEqual(plaintext);
    }
    const stranger = join(dir, `sized-${size}-stranger.key`);
    await writeFile(stranger, `${(await generateAgeIdentity()).identity}\n`, { mode: 0o600 });
    expect(() => run('age', ['-d', '-i', stranger, file])).toThrow(/no identity matched/);
  });

  it('age -d decrypts with either of two recipients', async () => {
    const [one, two] = await Promise.all([generateAgeIdentity(), generateAgeIdentity()]);
    const file = join(dir, 'two.age');
    await writeFile(file, await encryptTo([one.recipient, two.recipient], PLAINTEXT));
    for (const [n, { identity }] of [one, two].entries()) {
      const keyFile = join(dir, `two-${n}.key`);
      await writeFile(keyFile, `${identity}\n`, { mode: 0o600 });
      expect(new Uint8Array(run('age', ['-d', '-i', keyFile, file]))).toEqual(PLAINTEXT);
    }
  });

  it.each([[['-a']], [[]]])('decryptWith reads what age -r %j wrote', async (flags) => {
    const keyFile = join(dir, `theirs${flags.join('')}.key`);
    const plainFile = join(dir, `theirs${flags.join('')}.txt`);
    const file = join(dir, `theirs${flags.join('')}.age`);
    run('age-keygen', ['-o', keyFile]);
    const identity = (await readFile(keyFile, 'utf8')).split('\n').find((line) => line.startsWith('AGE-SECRET-KEY-1'))!;
    const recipient = run('age-keygen', ['-y', keyFile]).toString().trim();
    await writeFile(plainFile, PLAINTEXT);
    run('age', [...flags, '-r', recipient, '-o', file, plainFile]);
    const ciphertext = new Uint8Array(await readFile(file));
    expect(await decryptWith([identity], ciphertext)).toEqual(PLAINTEXT);
    const stranger = await generateAgeIdentity();
    expect(await decryptWith([stranger.identity, identity], ciphertext)).toEqual(PLAINTEXT);
    await expect(decryptWith([stranger.identity], ciphertext)).rejects.toMatchObject({ code: 'age-decrypt-failed' });
  });
});

describe.skipIf(!hasAge || !hasScript)('age CLI interop: passphrases (age on a pseudo-terminal)', () => {
  it('age -d decrypts what encryptWithPassphrase wrote (armored, default work factor)', async () => {
    const file = join(dir, 'pass-ours.age');
    const out = join(dir, 'pass-ours.txt');
    await writeFile(file, await encryptWithPassphrase(PASSPHRASE, PLAINTEXT, { armor: true }));
    ageOnTty(['-d', '-o', out, file], `${PASSPHRASE}\n`);
    expect(new Uint8Array(await readFile(out))).toEqual(PLAINTEXT);
  });

  it('decryptWithPassphrase reads what age -p wrote, and refuses a wrong passphrase', async () => {
    const plainFile = join(dir, 'pass-theirs.txt');
    const file = join(dir, 'pass-theirs.age');
    await writeFile(plainFile, PLAINTEXT);
    ageOnTty(['-p', '-o', file, plainFile], `${PASSPHRASE}\n${PASSPHRASE}\n`);
    const ciphertext = new Uint8Array(await readFile(file));
    expect(await decryptWithPassphrase(PASSPHRASE, ciphertext)).toEqual(PLAINTEXT);
    await expect(decryptWithPassphrase('not the passphrase', ciphertext)).rejects.toMatchObject({ code: 'age-decrypt-failed' });
  });
});

describe('AgeError', () => {
  const caught = async (work: () => Promise<unknown>): Promise<AgeError> => {
    const error: unknown = await work().then(() => null, (err: unknown) => err);
    if (!(error instanceof AgeError)) throw new Error(`expected an AgeError, got ${String(error)}`);
    expect(error.exitCode).toBe(2);
    return error;
  };

  it('names a bad recipient by position', async () => {
    const { recipient } = await generateAgeIdentity();
    const error = await caught(() => encryptTo([recipient, `${recipient.slice(0, -1)}${recipient.endsWith('q') ? 'p' : 'q'}`], PLAINTEXT));
    expect(error.code).toBe('age-bad-recipient');
    expect(error.message).toContain('#2');
    await expect(encryptTo([], PLAINTEXT)).rejects.toMatchObject({ code: 'age-bad-recipient' });
  });

  it('never quotes a damaged identity, not even in its cause', async () => {
    const { identity } = await generateAgeIdentity();
    const damaged = `${identity.slice(0, -1)}${identity.endsWith('Q') ? 'P' : 'Q'}`;
    for (const error of [
      await caught(() => decryptWith([damaged], PLAINTEXT)),
      await caught(() => ageRecipientOf(damaged)),
    ]) {
      expect(error.code).toBe('age-bad-identity');
      const text = `${error.message} ${(error.cause as Error).message} ${String((error.cause as Error).stack)}`;
      expect(text.toUpperCase()).not.toContain(damaged.slice(16, 60));
    }
  });

  it('reports not-an-age-file and damaged armor as age-decrypt-failed', async () => {
    const { identity, recipient } = await generateAgeIdentity();
    expect((await caught(() => decryptWith([identity], PLAINTEXT))).code).toBe('age-decrypt-failed');
    const armored = new TextDecoder().decode(await encryptTo([recipient], PLAINTEXT, { armor: true }));
    const damaged = new TextEncoder().encode(armored.replace(/\n(.)/, (_m, c: string) => `\n${c === 'A' ? 'B' : 'A'}`));
    expect((await caught(() => decryptWith([identity], damaged))).code).toBe('age-decrypt-failed');
  });

  it('refuses an empty passphrase and a wrong one (low work factor, in process)', async () => {
    await expect(encryptWithPassphrase('', PLAINTEXT)).rejects.toMatchObject({ code: 'age-bad-passphrase' });
    const ciphertext = await encryptWithPassphrase(PASSPHRASE, PLAINTEXT, { scryptWorkFactor: 10 });
    expect(await decryptWithPassphrase(PASSPHRASE, ciphertext)).toEqual(PLAINTEXT);
    const error = await caught(() => decryptWithPassphrase('wrong', ciphertext));
    expect(error.code).toBe('age-decrypt-failed');
    expect(error.message).toContain('passphrase is wrong');
  });
});
