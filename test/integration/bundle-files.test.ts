/**
 * writeMemberBundles on a real file system: every member's file lands at its own path (0600,
 * armored) beside its SSH signature (0600, over exactly that file's bytes, by the controller) and
 * opens with that member's identity and no neighbour's, also with fewer writers than files (a
 * mix-up between the concurrent writers shows as a file for the wrong member); a passphrase
 * member's file and page open with the passphrase; a bad recipient fails the call with its AgeError.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeMemberBundles, type MemberTarget } from '../../controller/bundle/export.ts';
import { decryptWith, decryptWithPassphrase, generateAgeIdentity, type AgeKeyPair } from '#shared/crypto/age.ts';
import { generateSigningKey } from '#shared/crypto/sign.ts';
import { verifySshSignature } from '#shared/crypto/sshsig.ts';

const TEXT = 'ONIONFLEET SERVER BUNDLE\nsmp://example\n';
const MEMBERS = 24;
const signer = generateSigningKey();

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
    const written = await writeMemberBundles(TEXT, targets, out, { signer, concurrency });
    const paths = written.map((w) => w.file);
    expect(paths).toEqual(targets.map((t) => join(out, `${t.member}.age`)));
    expect(written.map((w) => [w.signature, w.page])).toEqual(paths.map((p) => [`${p}.sig`, null]));
    expect((await readdir(out)).sort()).toEqual(targets.flatMap((t) => [`${t.member}.age`, `${t.member}.age.sig`])); // no temp file left
    for (const [i, path] of paths.entries()) {
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(`${path}.sig`)).mode & 0o777).toBe(0o600);
      const file = new Uint8Array(await readFile(path));
      expect(verifySshSignature(await readFile(`${path}.sig`, 'utf8'), 'onionfleet-bundle', file)).toEqual({ ok: true, key: signer.publicKey });
      expect(new TextDecoder().decode(file.subarray(0, 34))).toBe('-----BEGIN AGE ENCRYPTED FILE-----');
      expect(new TextDecoder().decode(await decryptWith([keys[i]?.identity ?? ''], file))).toBe(TEXT);
      const neighbour = keys[(i + 1) % MEMBERS]?.identity ?? '';
      await expect(decryptWith([neighbour], file)).rejects.toMatchObject({ code: 'age-decrypt-failed' });
    }
  });

  it('encrypts a passphrase member\'s bundle and page with the passphrase, each file signed', async () => {
    const out = join(dir, 'passphrase');
    await mkdir(out);
    const [written] = await writeMemberBundles(TEXT, [{ member: 'cleo', passphrase: 'a long enough passphrase' }], out, { signer, page: '<!DOCTYPE html><p>page</p>' });
    expect(written?.page).toEqual({ file: join(out, 'cleo.html.age'), signature: join(out, 'cleo.html.age.sig') });
    const file = new Uint8Array(await readFile(written?.file ?? ''));
    expect(new TextDecoder().decode(await decryptWithPassphrase('a long enough passphrase', file))).toBe(TEXT);
    const page = new Uint8Array(await readFile(written?.page?.file ?? ''));
    expect(new TextDecoder().decode(await decryptWithPassphrase('a long enough passphrase', page))).toBe('<!DOCTYPE html><p>page</p>');
    expect(verifySshSignature(await readFile(written?.page?.signature ?? '', 'utf8'), 'onionfleet-bundle', page)).toMatchObject({ ok: true });
    // The bundle's signature does not fit the page: each signs its own file.
    expect(verifySshSignature(await readFile(written?.signature ?? '', 'utf8'), 'onionfleet-bundle', page)).toMatchObject({ ok: false, reason: 'bad-signature' });
  }, 30_000);

  it('fails with the AgeError of a bad recipient', async () => {
    const out = join(dir, 'bad');
    await mkdir(out);
    const targets: MemberTarget[] = [{ member: 'ana', recipient: keys[0]?.recipient ?? '' }, { member: 'ben', recipient: 'age1notarecipient' }];
    await expect(writeMemberBundles(TEXT, targets, out, { signer, concurrency: 1 })).rejects.toMatchObject({ code: 'age-bad-recipient' });
    expect((await readdir(out)).sort()).toEqual(['ana.age', 'ana.age.sig']);
  });
});
