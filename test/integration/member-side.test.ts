/**
 * The member's side, with two real demo fleets (two `onionfleet demo` runs: two controllers, two
 * fleet names) and only stock tools where a member has only those:
 * - a demo bundle verifies with the real `ssh-keygen -Y verify` against the line the admin
 *   publishes (`bundle signer`), and fails after any one byte of it changes; `age -d` still opens it;
 *   the member guide's two Linux commands (and the page's), pasted as printed, do both;
 * - one member machine opens bundles of both fleets one after the other without touching a pin,
 *   and refuses (exit 2) a bundle of a known fleet signed by another key, naming both fingerprints;
 *   `bundle trust`/`untrust`/`trusted` manage the entries; the old single pin is still read;
 * - the printable page, decrypted with `age -d`, drawn by headless Chromium (Debian's) loading
 *   nothing but itself, and every QR code on it scanned (jsQR) to exactly the bundle's addresses;
 *   its screenshot is attached to the test (and kept in .tmp/test-output/).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsqr from 'jsqr';
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderBundle, signBundle } from '../../controller/bundle/document.ts';
import { encryptTo } from '#shared/crypto/age.ts';
import { generateSigningKey } from '#shared/crypto/sign.ts';
import { sshFingerprint, sshSign, verifySshSignature } from '#shared/crypto/sshsig.ts';
import { BIN, runBin, type CliRun } from '../support/cli.ts';

/** The fleets' names: `newsroom` is the member guide's example, so its commands run here as printed. */
const FLEETS = { newsroom: 'newsroom', choir: 'choir' } as const;
type Fleet = keyof typeof FLEETS;
/** Kept after the run (ignored by git): the page's screenshot. */
const ARTIFACTS = join(import.meta.dirname, '../../.tmp/test-output');

interface Signer { allowedSigners: string; sshFingerprint: string; controllerKey: string }
interface Opened { fleet: string; group: string; smp: string[]; xftp: string[]; sshFingerprint: string; trust: string }

const root = mkdtempSync(join(tmpdir(), 'onionfleet-member-side-'));
const demoDir = (f: Fleet) => join(root, f);
const bundleOf = (f: Fleet, member: string) => join(demoDir(f), 'bundles', `${member}.age`);
const keyOf = (f: Fleet, member: string) => join(demoDir(f), 'members', `${member}.key`);
const signers = new Map<Fleet, Signer>();
/** What the admin of each fleet publishes: `onionfleet bundle signer` saved as a file. */
const published = (f: Fleet) => join(root, `${f}.allowed_signers`);

/** A member's machine: its own trust files. */
function memberMachine(name: string) {
  const home = join(root, name);
  mkdirSync(home, { recursive: true });
  const env = { ONIONFLEET_ALLOWED_SIGNERS: join(home, 'allowed_signers'), ONIONFLEET_PIN_FILE: join(home, 'pinned-controller') };
  const run = (...args: string[]): Promise<CliRun> => runBin(BIN.onionfleet, ['bundle', ...args], { env });
  const open = (file: string, key: string, ...flags: string[]) => run('open', file, '-i', key, '--json', ...flags);
  return { env, run, open };
}

const sshVerify = (allowed: string, principal: string, sig: string, input: Uint8Array) =>
  spawnSync('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', principal, '-n', 'onionfleet-bundle', '-s', sig], { input, encoding: 'utf8' });

beforeAll(async () => {
  // One after the other: each demo runs seven processes on a two-core machine.
  for (const f of Object.keys(FLEETS) as Fleet[]) {
    const demo = await runBin(BIN.onionfleet, ['demo', '--dir', demoDir(f), '--fleet', FLEETS[f], '--json']);
    expect(demo.code, demo.stderr).toBe(0);
    const signer = await runBin(BIN.onionfleet, ['bundle', 'signer', '-f', join(demoDir(f), 'fleet.yaml'), '--state', join(demoDir(f), 'controller'), '--json']);
    expect(signer.code, signer.stderr).toBe(0);
    signers.set(f, JSON.parse(signer.stdout) as Signer);
    const text = await runBin(BIN.onionfleet, ['bundle', 'signer', '-f', join(demoDir(f), 'fleet.yaml'), '--state', join(demoDir(f), 'controller')]);
    writeFileSync(published(f), text.stdout);
  }
}, 240_000);

afterAll(() => {
  // The demos stopped everything they started (their own tests check that); what is left are files with keys.
  rmSync(root, { recursive: true, force: true });
});

describe('a demo bundle and the stock ssh-keygen', () => {
  it('verifies against the admin\'s published allowed_signers line; `age -d` still opens it', () => {
    const signer = signers.get('newsroom');
    expect(readFileSync(published('newsroom'), 'utf8')).toContain(`${signer?.allowedSigners ?? '?'}\n`);
    expect(readFileSync(published('newsroom'), 'utf8')).toContain(`controller key ${signer?.sshFingerprint ?? '?'}`);
    for (const file of [bundleOf('newsroom', 'ana'), join(demoDir('newsroom'), 'bundles', 'ana.html.age')]) {
      const good = sshVerify(published('newsroom'), FLEETS.newsroom, `${file}.sig`, readFileSync(file));
      expect(good.status, good.stderr).toBe(0);
      expect(good.stdout).toBe(`Good "onionfleet-bundle" signature for ${FLEETS.newsroom} with ED25519 key ${signer?.sshFingerprint ?? '?'}\n`);
    }
    // The other fleet's admin's line does not vouch for this bundle.
    expect(sshVerify(published('choir'), FLEETS.newsroom, `${bundleOf('newsroom', 'ana')}.sig`, readFileSync(bundleOf('newsroom', 'ana'))).status).not.toBe(0);
    expect(sshVerify(published('choir'), FLEETS.choir, `${bundleOf('newsroom', 'ana')}.sig`, readFileSync(bundleOf('newsroom', 'ana'))).status).not.toBe(0);
    const age = spawnSync('age', ['-d', '-i', keyOf('newsroom', 'ana'), bundleOf('newsroom', 'ana')], { encoding: 'utf8' });
    expect(age.status, age.stderr).toBe(0);
    expect(age.stdout).toMatch(new RegExp(`^ONIONFLEET SERVER BUNDLE - group newsroom - version 1 - \\S+\\nfleet: ${FLEETS.newsroom}\\n`));
  });

  it('fails after any one byte of the bundle changes: ssh-keygen at 64 places spread over the file, the same check in-process at every byte', () => {
    const file = bundleOf('newsroom', 'ana');
    const bytes = readFileSync(file);
    const sig = readFileSync(`${file}.sig`, 'utf8');
    const flip = (i: number) => {
      const altered = Buffer.from(bytes);
      altered[i] = (altered[i] ?? 0) ^ 0x01;
      return altered;
    };
    const places = [...new Set([0, bytes.length - 1, ...Array.from({ length: 62 }, (_, k) => Math.floor(((k + 1) * bytes.length) / 63))])];
    expect(places.length).toBeGreaterThanOrEqual(60);
    for (const i of places) expect(sshVerify(published('newsroom'), FLEETS.newsroom, `${file}.sig`, flip(i)).status, `byte ${i}`).not.toBe(0);
    for (let i = 0; i < bytes.length; i++) expect(verifySshSignature(sig, 'onionfleet-bundle', flip(i)).ok, `byte ${i}`).toBe(false);
    expect(sshVerify(published('newsroom'), FLEETS.newsroom, `${file}.sig`, bytes).status).toBe(0);
  });
});

/** The shell lines of the fenced block right after `heading` in the member guide. */
function guideCommands(heading: string): string[] {
  const guide = readFileSync(join(import.meta.dirname, '../../docs/member-guide.md'), 'utf8');
  const at = guide.indexOf(heading);
  expect(at, heading).toBeGreaterThanOrEqual(0);
  const block = /```sh\n([\s\S]*?)```/.exec(guide.slice(at));
  return (block?.[1] ?? '').trim().split('\n');
}

describe('the member guide\'s commands, pasted as printed', () => {
  it('Linux: check with ssh-keygen, then decrypt with age; the same for the page', () => {
    const folder = join(root, 'pasted');
    mkdirSync(folder, { recursive: true });
    copyFileSync(published('newsroom'), join(folder, 'newsroom.allowed_signers'));
    copyFileSync(keyOf('newsroom', 'ana'), join(folder, 'key.txt'));
    for (const f of ['ana.age', 'ana.age.sig', 'ana.html.age', 'ana.html.age.sig']) copyFileSync(join(demoDir('newsroom'), 'bundles', f), join(folder, f));
    const sh = (line: string) => spawnSync('sh', ['-c', line], { cwd: folder, encoding: 'utf8' });
    const [verify = '', decrypt = ''] = guideCommands('### Linux');
    expect(verify).toMatch(/^ssh-keygen -Y verify /);
    const checked = sh(verify);
    expect(checked.status, checked.stderr).toBe(0);
    expect(checked.stdout).toBe(`Good "onionfleet-bundle" signature for newsroom with ED25519 key ${signers.get('newsroom')?.sshFingerprint ?? '?'}\n`);
    const opened = sh(decrypt);
    expect(opened.status, opened.stderr).toBe(0);
    expect(opened.stdout).toMatch(/^ONIONFLEET SERVER BUNDLE - group newsroom /);
    const [pageVerify = '', pageDecrypt = ''] = guideCommands('### Your page with QR codes');
    expect(sh(pageVerify).status).toBe(0);
    expect(sh(pageDecrypt).status).toBe(0);
    expect(readFileSync(join(folder, 'ana.html'), 'utf8')).toMatch(/^<!DOCTYPE html>/);
    // The guide's first command refuses an altered file.
    writeFileSync(join(folder, 'ana.age'), readFileSync(join(folder, 'ana.age'), 'utf8').replace(/\n(.)/, (_, c: string) => `\n${c === 'A' ? 'B' : 'A'}`));
    expect(sh(verify).status).not.toBe(0);
    expect(existsSync(join(folder, 'ana.age'))).toBe(true);
  });
});

describe('one member machine, two fleets', () => {
  const m = memberMachine('journalist');

  it('opens bundles of both demo fleets one after the other without touching a pin', async () => {
    const steps: [Fleet, string, string][] = [['newsroom', 'ana', 'first-use'], ['choir', 'maria', 'first-use'], ['newsroom', 'ben', 'known'], ['choir', 'ana', 'known']];
    for (const [f, member, trust] of steps) {
      const run = await m.open(bundleOf(f, member), keyOf(f, member));
      expect(run.code, run.stderr).toBe(0);
      const opened = JSON.parse(run.stdout) as Opened;
      expect(opened).toMatchObject({ fleet: FLEETS[f], sshFingerprint: signers.get(f)?.sshFingerprint, trust });
      if (trust === 'first-use') expect(run.stderr).toContain(`first bundle of fleet "${FLEETS[f]}": trusting its controller key ${signers.get(f)?.sshFingerprint ?? '?'}`);
      else expect(run.stderr).toBe('');
    }
    const listed = await m.run('trusted', '--json');
    expect(JSON.parse(listed.stdout)).toMatchObject({ fleets: [{ fleet: FLEETS.choir, sshFingerprint: signers.get('choir')?.sshFingerprint }, { fleet: FLEETS.newsroom, sshFingerprint: signers.get('newsroom')?.sshFingerprint }], oldPin: null });
    // The machine's own trust file is an allowed_signers file ssh-keygen reads, for either fleet.
    for (const f of ['newsroom', 'choir'] as const) {
      const member = f === 'newsroom' ? 'ana' : 'maria';
      expect(sshVerify(m.env.ONIONFLEET_ALLOWED_SIGNERS, FLEETS[f], `${bundleOf(f, member)}.sig`, readFileSync(bundleOf(f, member))).status).toBe(0);
    }
  }, 60_000);

  it('refuses a bundle of a known fleet signed by a different key (exit 2), naming both fingerprints, and trusts nothing new', async () => {
    const other = generateSigningKey();
    const recipient = spawnSync('age-keygen', ['-y', keyOf('newsroom', 'ana')], { encoding: 'utf8' }).stdout.trim();
    const opened = JSON.parse((await m.open(bundleOf('newsroom', 'ana'), keyOf('newsroom', 'ana'))).stdout) as Opened;
    const text = signBundle(renderBundle({ fleet: FLEETS.newsroom, group: 'newsroom', version: 2, date: '2026-01-01', smp: opened.smp, xftp: opened.xftp, retire: [] }), other.secretKey, other.publicKey);
    const sealed = await encryptTo([recipient], new TextEncoder().encode(text), { armor: true });
    const forged = join(root, 'forged.age');
    writeFileSync(forged, sealed);
    writeFileSync(`${forged}.sig`, sshSign(other.secretKey, other.publicKey, 'onionfleet-bundle', sealed));
    const before = readFileSync(m.env.ONIONFLEET_ALLOWED_SIGNERS, 'utf8');
    const run = await m.open(forged, keyOf('newsroom', 'ana'));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`fleet "${FLEETS.newsroom}" is trusted with controller key ${signers.get('newsroom')?.sshFingerprint ?? '?'}, but this bundle is signed by ${sshFingerprint(other.publicKey)}`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'invalid-input' } }); // no servers printed
    expect(readFileSync(m.env.ONIONFLEET_ALLOWED_SIGNERS, 'utf8')).toBe(before);
    // ssh-keygen refuses it too, with the admin's line.
    expect(sshVerify(published('newsroom'), FLEETS.newsroom, `${forged}.sig`, sealed).status).not.toBe(0);
  }, 60_000);

  it('untrust forgets a fleet (its next bundle is first use again); trust takes the admin\'s published file', async () => {
    const untrust = await m.run('untrust', FLEETS.choir);
    expect(untrust.code, untrust.stderr).toBe(0);
    expect((await m.run('untrust', FLEETS.choir)).code).toBe(2);
    const reopened = await m.open(bundleOf('choir', 'maria'), keyOf('choir', 'maria'));
    expect(JSON.parse(reopened.stdout)).toMatchObject({ trust: 'first-use' });
    // A wrong key set by hand refuses the fleet's real bundle; the admin's file puts it right.
    const wrong = await m.run('trust', '--fleet', FLEETS.choir, '--key', readFileSync(published('newsroom'), 'utf8').trim().split('\n').pop()?.replace(/^.* (ssh-ed25519 \S+)$/, '$1') ?? '');
    expect(wrong.code, wrong.stderr).toBe(0);
    expect((await m.open(bundleOf('choir', 'maria'), keyOf('choir', 'maria'))).code).toBe(2);
    const fixed = await m.run('trust', published('choir'), '--json');
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ trusted: [{ fleet: FLEETS.choir, sshFingerprint: signers.get('choir')?.sshFingerprint, was: [signers.get('newsroom')?.sshFingerprint] }] });
    expect(JSON.parse((await m.open(bundleOf('choir', 'maria'), keyOf('choir', 'maria'))).stdout)).toMatchObject({ trust: 'known' });
    // A fingerprint alone cannot be trusted: it cannot check a signature.
    const bare = await m.run('trust', '--fleet', 'x', '--key', signers.get('choir')?.sshFingerprint ?? '');
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('a fingerprint cannot check a signature');
  }, 60_000);
});

describe('a machine that pinned one controller with an earlier version', () => {
  it('still reads the old pin: another key is refused until the pinned fleet\'s bundle claims it, then each fleet is trusted on its own', async () => {
    const m = memberMachine('old-machine');
    const newsroomKey = signers.get('newsroom')?.controllerKey ?? '';
    writeFileSync(m.env.ONIONFLEET_PIN_FILE, `# onionfleet: the controller whose bundles you accept (pinned on first use)\n${newsroomKey}\n`, { mode: 0o600 });
    const refused = await m.open(bundleOf('choir', 'maria'), keyOf('choir', 'maria'));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`signed by ${signers.get('choir')?.sshFingerprint ?? '?'} (fleet "${FLEETS.choir}"), but the controller pinned in ${m.env.ONIONFLEET_PIN_FILE} is ${signers.get('newsroom')?.sshFingerprint ?? '?'}`);
    const claimed = await m.open(bundleOf('newsroom', 'ana'), keyOf('newsroom', 'ana'));
    expect(claimed.code, claimed.stderr).toBe(0);
    expect(JSON.parse(claimed.stdout)).toMatchObject({ trust: 'carried-over' });
    expect(claimed.stderr).toContain(`is the one pinned in ${m.env.ONIONFLEET_PIN_FILE}`);
    const second = await m.open(bundleOf('choir', 'maria'), keyOf('choir', 'maria'));
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ trust: 'first-use' });
    expect(JSON.parse((await m.run('trusted', '--json')).stdout)).toMatchObject({ oldPin: { fingerprint: signers.get('newsroom')?.sshFingerprint, fleets: [FLEETS.newsroom] } });
  }, 60_000);
});

describe('the printable page in Chromium', () => {
  it('renders loading nothing but itself, and every QR code scans to exactly the bundle\'s addresses', async (ctx) => {
    const m = memberMachine('page-reader');
    const opened = JSON.parse((await m.open(bundleOf('newsroom', 'ana'), keyOf('newsroom', 'ana'))).stdout) as Opened;
    const html = join(root, 'ana.html');
    const age = spawnSync('age', ['-d', '-i', keyOf('newsroom', 'ana'), '-o', html, join(demoDir('newsroom'), 'bundles', 'ana.html.age')], { encoding: 'utf8' });
    expect(age.status, age.stderr).toBe(0);
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
    try {
      const page = await browser.newPage({ viewport: { width: 900, height: 1200 } });
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(`file://${html}`);
      await expect(page.locator('h1').textContent()).resolves.toBe('Servers of group newsroom — version 1');
      const codes = await page.locator('figure.server svg').all();
      const decoded: string[] = [];
      for (const code of codes) {
        const png = PNG.sync.read(await code.screenshot());
        // jsqr is CommonJS: its function is module.exports and its .default; the types know .default only.
        decoded.push(jsqr.default(new Uint8ClampedArray(png.data), png.width, png.height)?.data ?? '(no QR code found)');
      }
      expect(decoded).toEqual([...opened.smp, ...opened.xftp]);
      expect(await page.locator('figure.server figcaption code').allTextContents()).toEqual([...opened.smp, ...opened.xftp]);
      expect(requests).toEqual([`file://${html}`]);
      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = join(ARTIFACTS, 'member-page.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`the member page as Chromium drew it: ${shot}`);
      await ctx.annotate('the member page as Chromium drew it', { path: shot, contentType: 'image/png' });
    } finally {
      await browser.close();
    }
  }, 120_000);
});
