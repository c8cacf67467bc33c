/**
 * writeMemberBundles on a real file system: every member's file lands at its own path (0600,
 * armored) and opens with that member's identity and no neighbour's, also with fewer writers than
 * files (a mix-up between the concurrent writers shows as a file for the wrong member); a passphrase
 * member's file opens with the passphrase; a bad recipient fails the call with its AgeError.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeMemberBundles, type MemberTarget } from '../../controller/bundle/export.ts';
import { decryptWith, decryptWithPassphrase, generateAgeIdentity, type AgeKeyPair } from '#shared/crypto/age.ts';

const TEXT = 'ONIONFLEET SERVER BUNDLE\nsmp://example\n';
const MEMBERS = 24;

let dir = '';
let keys: AgeKeyPair[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'onionfleet-bundle-files-'));
  await chmod(dir, 0o700);
  keys = await Promise.all(Array.from({ length: MEMBERS }, () => generateAgeIdentity()));
});
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

const member = (i: number) => `member-${String(i).padStart(2, '0')}`;

describe('writeMemberBundles', () => {
  it.each([4, 64])('writes one file per member that only that member opens (%i writers)', async (concurrency) => {
    const out = join(dir, `c${concurrency}`);
    await mkdir(out);
    const targets: MemberTarget[] = keys.map((k, i) => ({ member: member(i), recipient: k.recipient }));
    const paths = await writeMemberBundles(TEXT, targets, out, concurrency);
    expect(paths).toEqual(targets.map((t) => join(out, `${t.member}.age`)));
    expect((await readdir(out)).sort()).toEqual(targets.map((t) => `${t.member}.age`)); // no temp file left
    for (const [i, path] of paths.entries()) {
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      const file = new Uint8Array(await readFile(path));
      expect(new TextDecoder().decode(file.subarray(0, 34))).toBe('-----BEGIN AGE ENCRYPTED FILE-----');
      expect(new TextDecoder().decode(await decryptWith([keys[i]?.identity ?? ''], file))).toBe(TEXT);
      const neighbour = keys[(i + 1) % MEMBERS]?.identity ?? '';
      await expect(decryptWith([neighbour], file)).rejects.toMatchObject({ code: 'age-decrypt-failed' });
    }
  });

  it('encrypts a passphrase member with the passphrase', async () => {
    const out = join(dir, 'passphrase');
    await mkdir(out);
    const [path] = await writeMemberBundles(TEXT, [{ member: 'cleo', passphrase: 'a long enough passphrase' }], out);
    const file = new Uint8Array(await readFile(path ?? ''));
    expect(new TextDecoder().decode(await decryptWithPassphrase('a long enough passphrase', file))).toBe(TEXT);
  }, 30_000);

  it('fails with the AgeError of a bad recipient', async () => {
    const out = join(dir, 'bad');
    await mkdir(out);
    const targets: MemberTarget[] = [{ member: 'ana', recipient: keys[0]?.recipient ?? '' }, { member: 'ben', recipient: 'age1notarecipient' }];
    await expect(writeMemberBundles(TEXT, targets, out, 1)).rejects.toMatchObject({ code: 'age-bad-recipient' });
    expect(await readdir(out)).toEqual(['ana.age']);
  });
});
