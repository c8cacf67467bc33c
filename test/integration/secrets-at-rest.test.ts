/**
 * Secrets at rest on the controller (issue 11): with a passphrase, after a whole run (serve, devices,
 * apply, a join token, bundles, serve --tor started and stopped), no secret of the state lies in the
 * clear: every file is either sealed (age) or one of the public files, and none holds a secret's
 * text. Without a passphrase, `init` says what stays in the clear. An empty state path is refused.
 * A state of an older onionfleet (each key under the passphrase, the onion keys in the clear) is read
 * and sealed afresh.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClientPrivateKey, adminClientPublicKey } from '../../controller/enroll/onion-clients.ts';
import { loadSecrets } from '../../controller/state/keys.ts';
import { ensureNatsOnion } from '../../controller/state/nats-onion.ts';
import { statePaths } from '../../controller/state/paths.ts';
import { isSealed } from '../../controller/state/secret-files.ts';
import { decryptWith, encryptWithPassphrase } from '#shared/crypto/age.ts';
import { clientAuthKeyPair, randomOnionKeys } from '#shared/crypto/onion.ts';
import { BIN, onionfleet, runBin } from '../support/cli.ts';
import { FleetHarness, fleetYaml } from '../support/fleet-harness.ts';
import { until } from '../support/processes.ts';

const PASSPHRASE = 'correct horse battery staple';
const DEVICES = [{ id: 'pi-1', operator: 'alice' }, { id: 'pi-2', operator: 'bob' }];
let h: FleetHarness;

/** Every file below `dir`, relative to it. */
function walk(dir: string, root = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    return e.isDirectory() ? walk(path, root) : [relative(root, path)];
  });
}

/**
 * Files a state may keep in the clear: public keys and addresses, configs, logs, the JetStream store
 * (it holds sealed documents only), and the rollout record (the fleet spec, and desired states sealed
 * to the controller).
 */
const PUBLIC = [
  /^controller\.json$/, /^devices\/[a-z0-9-]+\.json$/, /^device-states\.json$/, /^rollout\.json$/, /^tokens\/[a-z2-7]+\.json$/, /^pending\//,
  /^keys\/(onion-client\.pub|nats-onion\.hostname)$/, /^nats\/(nats\.conf|nats\.log|gateway\.pub|runtime\.json)$/, /^nats\/store\//,
  /^tor\/(torrc|notice\.log|runtime\.json|data\/|nats-onion\/(hostname|hs_ed25519_public_key|authorized_clients\/))/, /\.lock$/,
];

beforeAll(async () => {
  h = await FleetHarness.create({ passphrase: PASSPHRASE });
  await h.startServe();
  for (const d of DEVICES) await h.enroll(d.id);
  for (const d of DEVICES) h.startAgent(d.id);
}, 120_000);

afterAll(async () => {
  await h.stop();
}, 60_000);

describe('a state with a passphrase', () => {
  it('keeps every secret sealed through a whole run', async () => {
    const fleet = h.writeFleet(fleetYaml(DEVICES, [{ id: 'fam', smp: 2, xftp: 1 }]));
    const applied = await h.apply(fleet, '--wait', '--timeout', '120');
    expect(applied.code, applied.stderr).toBe(0);
    expect((await onionfleet('token', 'create', '--operator', 'carol', '--nats-url', h.natsUrl(), '--state', h.state)).code).toBe(0);
    const out = join(h.dir, 'bundles-out');
    const exported = await until('the bundles to export (every address reported)', async () => {
      const run = await runBin(BIN.onionfleet, ['bundle', 'export', '--group', 'fam', '--out', out, '-f', fleet, '--state', h.state, '--json', ...h.passphraseFlags]);
      return run.code === 0 ? run : null;
    }, 60_000);
    const passphrase = (JSON.parse(exported.stdout) as { files: { passphrase?: string }[] }).files[0]?.passphrase ?? '';
    expect(passphrase).not.toBe('');
    await h.stopServe();
    // serve --tor gives tor its copy of the onion's key, and takes it back. tor needs no network for
    // that: one directory authority at 127.0.0.1:1 keeps it on loopback (it never bootstraps).
    const torConf = join(h.dir, 'offline.torrc');
    writeFileSync(torConf, 'DirAuthority offline orport=1 no-v2 v3ident=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 127.0.0.1:1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n');
    await h.startServe('--tor', '--tor-config', torConf);
    const torCopy = join(h.state, 'tor/nats-onion/hs_ed25519_secret_key');
    await until('tor to hold its copy of the NATS onion key', () => (statSync(torCopy, { throwIfNoEntry: false }) === undefined ? null : true), 30_000);
    await h.stopServe();
    expect(statSync(torCopy, { throwIfNoEntry: false })).toBeUndefined();

    const secrets = await loadSecrets(statePaths(h.state), PASSPHRASE);
    const plain = [secrets.signingSecretKey, secrets.ageIdentity, secrets.natsSeed, await adminClientPrivateKey(statePaths(h.state), secrets)];
    const history = new TextDecoder().decode(await decryptWith([secrets.ageIdentity], readFileSync(join(h.state, 'bundles/fam.json'))));
    const memberPasswords = [...history.matchAll(/smp:\/\/[^:]+:([^@]+)@/g)].map((m) => m[1] ?? '');
    expect(memberPasswords.length).toBe(2);
    plain.push(...memberPasswords);
    const files = walk(h.state);
    expect(files).toEqual(expect.arrayContaining(['keys/signing.key', 'keys/nats.nk', 'keys/onion-client.key', 'keys/nats-onion.key', 'bundles/fam.json']));
    for (const file of files) {
      const bytes = readFileSync(join(h.state, file));
      const text = bytes.toString('latin1');
      for (const s of plain) expect(text.includes(s), `${file} holds a secret in the clear`).toBe(false);
      if (!PUBLIC.some((p) => p.test(file))) expect(isSealed(bytes), `${file} is neither public nor sealed`).toBe(true);
      if (file.startsWith('keys/') && !file.endsWith('.pub') && !file.endsWith('.hostname')) expect(statSync(join(h.state, file)).mode & 0o777).toBe(0o600);
    }
    expect(passphrase.length).toBeGreaterThan(0);
  }, 300_000);
});

describe('a state without a passphrase, and the state path', () => {
  it('init says what stays in the clear', async () => {
    const run = await onionfleet('init', '--state', join(mkdtempSync(join(tmpdir(), 'onionfleet-clear-')), 'state'));
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^no passphrase: these stay in the clear/);
    for (const what of ['signing key', 'onion client key', 'NATS onion', 'member address', 'pins']) expect(run.stderr).toContain(what);
  });

  it('refuses an empty --state or ONIONFLEET_STATE (it would mean the current directory) and writes nothing', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'onionfleet-cwd-'));
    const flag = await runBin(BIN.onionfleet, ['init', '--state', ''], { cwd });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^--state: is empty/);
    const env = await runBin(BIN.onionfleet, ['init'], { cwd, env: { ONIONFLEET_STATE: '' } });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/^ONIONFLEET_STATE: is set but empty/);
    expect(readdirSync(cwd)).toEqual([]);
  });
});

describe('a state of an older onionfleet', () => {
  it('is read as it is and sealed afresh: keys under the passphrase, onion keys in the clear', async () => {
    const state = join(mkdtempSync(join(tmpdir(), 'onionfleet-older-')), 'state');
    expect((await onionfleet('init', '--state', state, '--passphrase-file', h.passphraseFlags[1] ?? '')).code).toBe(0);
    const paths = statePaths(state);
    const secrets = await loadSecrets(paths, PASSPHRASE);
    // What an older onionfleet left: the signing key and seed each under the passphrase, the admin's key and tor's onion key in the clear.
    const underPassphrase = (s: string) => encryptWithPassphrase(PASSPHRASE, new TextEncoder().encode(`${s}\n`), { armor: true, scryptWorkFactor: 10 });
    writeFileSync(paths.signingKey, await underPassphrase(secrets.signingSecretKey));
    writeFileSync(paths.natsSeed, await underPassphrase(secrets.natsSeed));
    const admin = clientAuthKeyPair();
    writeFileSync(paths.adminOnionKey, `${admin.privateKeyBase32}\n`, { mode: 0o600 });
    const onion = randomOnionKeys();
    await mkdir(paths.natsOnionDir, { recursive: true });
    writeFileSync(join(paths.natsOnionDir, 'hs_ed25519_secret_key'), onion.secretKeyFile, { mode: 0o600 });

    expect(await adminClientPublicKey(paths)).toBe(admin.publicKeyBase32);
    const again = await loadSecrets(paths, PASSPHRASE);
    expect(again.signingSecretKey).toBe(secrets.signingSecretKey);
    expect(await adminClientPrivateKey(paths, again)).toBe(admin.privateKeyBase32);
    expect((await ensureNatsOnion(paths)).hostname).toMatch(/^[a-z2-7]{56}\.onion$/);
    for (const file of [paths.signingKey, paths.natsSeed, paths.adminOnionKey, paths.natsOnionKey]) {
      const bytes = readFileSync(file);
      expect(isSealed(bytes), `${file} sealed afresh`).toBe(true);
      await expect(decryptWith([again.ageIdentity], bytes)).resolves.toBeInstanceOf(Uint8Array);
    }
    expect(statSync(join(paths.natsOnionDir, 'hs_ed25519_secret_key'), { throwIfNoEntry: false })).toBeUndefined();
  }, 60_000);
});
