/**
 * Member bundles end to end, with the real nats-server, two agents running the SimpleX doubles,
 * and the Debian `age` CLI: export after apply (files 0600, one per member, each with its SSH
 * signature, QR PNGs); the age CLI decrypts a member's bundle and finds every reported address;
 * `bundle open` verifies, prints and trusts the fleet's controller key on first use, and refuses
 * (exit 2) another key for that fleet, an altered, damaged or foreign file, or a .sig that does not
 * fit; a passphrase member opens theirs with the printed passphrase, from a file or typed on a
 * terminal; export refuses a passphrase file inside the bundle directory, and refuses while a placed
 * instance has no address; after the group shrinks, version 2 lists the dropped address to retire.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, renderBundle, signBundle } from '../../controller/bundle/document.ts';
import { encryptTo } from '#shared/crypto/age.ts';
import { open } from '#shared/crypto/envelope.ts';
import { generateSigningKey, keyFingerprint } from '#shared/crypto/sign.ts';
import { sshFingerprint, sshSign, verifySshSignature } from '#shared/crypto/sshsig.ts';
import { connectNats } from '#shared/nats/connect.ts';
import { getEntry, openStatus } from '#shared/nats/kv.ts';
import { DeviceStatus } from '#shared/schema/status.ts';
import { BIN, runBin, type CliRun } from '../support/cli.ts';
import { FleetHarness } from '../support/fleet-harness.ts';
import { until } from '../support/processes.ts';
import { onTerminal } from '../support/terminal.ts';

const hasAge = spawnSync('age', ['--version']).status === 0 && spawnSync('age-keygen', ['--version']).status === 0;
const DEVICES = ['pi-a', 'pi-b'] as const;

let h: FleetHarness;
let out = '';
let pin = '';
let trusted = '';
const recipients = new Map<string, string>();
const keyFile = (member: string) => join(h.dir, `${member}.key`);
const controller = () => JSON.parse(readFileSync(join(h.state, 'controller.json'), 'utf8')) as { signingKey: string };
const mode = (path: string) => statSync(path).mode & 0o777;

function fleet(smp: number): string {
  return h.writeFleet([
    'version: 1',
    'fleet: test-fleet',
    'operators: [{ id: alice }, { id: bob }]',
    'devices:',
    '  - { id: pi-a, operator: alice, location: pi-a-site, jurisdiction: DE }',
    '  - { id: pi-b, operator: bob, location: pi-b-site, jurisdiction: DE }',
    'groups:',
    `  - { id: fam, tier: standard, smp: ${smp}, xftp: 1, members: [ana, ben, cleo] }`,
    'members:',
    `  - { id: ana, recipient: ${recipients.get('ana') ?? ''} }`,
    `  - { id: ben, recipient: ${recipients.get('ben') ?? ''} }`,
    '  - { id: cleo, passphrase: true }',
    '',
  ].join('\n'));
}

/** The group's addresses as the devices report them (opened like the controller does), by instance id. */
async function reported(): Promise<{ instance: string; kind: string; address: string | null }[]> {
  const nc = await connectNats({ servers: h.natsUrl(), nkeySeed: readFileSync(join(h.state, 'keys/nats.nk'), 'utf8').trim(), name: 'test-bundles', timeoutMs: 10_000 });
  try {
    const kv = await openStatus(nc, { create: false });
    const all: { instance: string; kind: string; address: string | null }[] = [];
    for (const device of DEVICES) {
      const entry = await getEntry(kv, device);
      if (entry === null) continue;
      const signer = (JSON.parse(readFileSync(join(h.dir, 'devices', device, 'record.json'), 'utf8')) as { signingKey: string }).signingKey;
      const { body } = await open(entry.value, { identity: readFileSync(join(h.state, 'keys/age.key'), 'utf8').trim(), signer, kind: 'status', device, schema: DeviceStatus });
      for (const i of body.instances) if (i.group === 'fam') all.push({ instance: i.id, kind: i.kind, address: i.address });
    }
    return all.sort((a, b) => (a.instance < b.instance ? -1 : 1));
  } finally {
    await nc.close();
  }
}

/** Waits until the group reports `smp` SMP and one XFTP instance, each with an address. */
async function addresses(smp: number): Promise<{ smp: string[]; xftp: string[] }> {
  return until(`fam to report ${smp} SMP addresses`, async () => {
    const all = await reported();
    const of = (kind: string) => all.filter((i) => i.kind === kind).map((i) => i.address);
    const s = of('smp');
    const x = of('xftp');
    return s.length === smp && x.length === 1 && [...s, ...x].every((a) => a !== null) ? { smp: s as string[], xftp: x as string[] } : null;
  }, 60_000);
}

const memberEnv = () => ({ ONIONFLEET_PIN_FILE: pin, ONIONFLEET_ALLOWED_SIGNERS: trusted });
const bundle = (...args: string[]): Promise<CliRun> => runBin(BIN.onionfleet, ['bundle', ...args], { env: memberEnv() });
const exportBundles = (fleetFile: string, ...flags: string[]) => bundle('export', '--group', 'fam', '--out', out, '-f', fleetFile, '--state', h.state, ...flags);
const openJson = (file: string, ...flags: string[]) => bundle('open', join(out, file), '--json', ...flags);
const ageDecrypt = (member: string) => spawnSync('age', ['-d', '-i', keyFile(member), join(out, `${member}.age`)], { encoding: 'utf8' });
const noStack = (run: CliRun): void => {
  expect(run.stderr).not.toMatch(/\n\s+at /);
};

interface Opened { group: string; version: number; date: string; smp: string[]; xftp: string[]; retire: { address: string; after: string }[]; controllerKey: string; fingerprint: string; sshFingerprint: string; trust: string; sshSignature: string | null }
interface Exported { version: number; date: string; changed: boolean; sshFingerprint: string; allowedSigners: string; files: { member: string; file: string; signature: string; page: string | null; encryption: string; passphrase?: string; qr: string[] }[] }

let first: { smp: string[]; xftp: string[] };
let exported: Exported;

beforeAll(async () => {
  h = await FleetHarness.create();
  out = join(h.dir, 'bundles');
  pin = join(h.dir, 'member-home', 'pinned-controller');
  trusted = join(h.dir, 'member-home', 'allowed_signers');
  for (const member of ['ana', 'ben']) {
    spawnSync('age-keygen', ['-o', keyFile(member)]);
    recipients.set(member, spawnSync('age-keygen', ['-y', keyFile(member)], { encoding: 'utf8' }).stdout.trim());
  }
  await h.startServe();
  for (const d of DEVICES) await h.enroll(d);
  for (const d of DEVICES) h.startAgent(d);
}, 120_000);

afterAll(async () => {
  await h.stop();
}, 60_000);

describe.skipIf(!hasAge)('member bundles', () => {
  it('exports one bundle per member after apply: files 0600 each with its SSH signature, QR codes, a generated passphrase printed once', async () => {
    const applied = await h.apply(fleet(3), '--wait', '--timeout', '120');
    expect(applied.code, applied.stderr).toBe(0);
    first = await addresses(3);
    const run = await exportBundles(join(h.dir, 'fleet.yaml'), '--qr', 'png', '--json');
    expect(run.code, run.stderr).toBe(0);
    exported = JSON.parse(run.stdout) as Exported;
    expect(exported).toMatchObject({ version: 1, changed: true, sshFingerprint: sshFingerprint(controller().signingKey) });
    expect(exported.allowedSigners).toMatch(/^test-fleet namespaces="onionfleet-bundle" ssh-ed25519 AAAA\S+$/);
    expect(exported.files.map((f) => [f.member, f.encryption])).toEqual([['ana', 'recipient'], ['ben', 'recipient'], ['cleo', 'passphrase']]);
    const passphrase = exported.files[2]?.passphrase ?? '';
    expect(passphrase).toMatch(/^[a-z2-7]{4}(?:-[a-z2-7]{4}){5}$/);
    expect(run.stderr).not.toContain(passphrase);
    for (const f of exported.files) {
      expect(mode(f.file)).toBe(0o600);
      expect(readFileSync(f.file, 'utf8')).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----/);
      expect([f.signature, f.page, mode(f.signature)]).toEqual([`${f.file}.sig`, null, 0o600]);
      expect(verifySshSignature(readFileSync(f.signature, 'utf8'), 'onionfleet-bundle', readFileSync(f.file))).toEqual({ ok: true, key: controller().signingKey });
      expect(f.qr).toHaveLength(4);
      for (const png of f.qr) {
        expect(png).toMatch(new RegExp(`/${f.member}/qr/fam-(?:smp|xftp)-\\d+\\.png$`));
        expect(mode(png)).toBe(0o600);
        expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
      }
    }
    expect(mode(join(h.state, 'bundles/fam.json'))).toBe(0o600);
  }, 240_000);

  it('the age CLI decrypts a recipient member\'s bundle: every reported address and the terminal lines', () => {
    for (const member of ['ana', 'ben']) {
      const plain = ageDecrypt(member);
      expect(plain.status, plain.stderr).toBe(0);
      for (const a of [...first.smp, ...first.xftp]) expect(plain.stdout).toContain(a);
      expect(plain.stdout.split('\n')).toContain(`/smp ${first.smp.join(' ')}`);
      expect(plain.stdout.split('\n')).toContain(`/xftp ${first.xftp.join(' ')}`);
      expect(plain.stdout).toContain('-----BEGIN ONIONFLEET SIGNATURE-----');
    }
  });

  it('opens: checks both signatures, prints the servers as JSON and trusts the fleet\'s controller key on first use', async () => {
    const run = await openJson('ana.age', '-i', keyFile('ana'));
    expect(run.code, run.stderr).toBe(0);
    const fingerprint = keyFingerprint(controller().signingKey);
    const ssh = sshFingerprint(controller().signingKey);
    expect(JSON.parse(run.stdout)).toMatchObject({
      group: 'fam', version: 1, date: exported.date, smp: first.smp, xftp: first.xftp, retire: [], controllerKey: controller().signingKey, fingerprint,
      sshFingerprint: ssh, trust: 'first-use', sshSignature: join(out, 'ana.age.sig'),
    } satisfies Partial<Opened>);
    expect(run.stderr).toContain(`first bundle of fleet "test-fleet": trusting its controller key ${ssh}`);
    expect(readFileSync(trusted, 'utf8')).toContain(exported.allowedSigners);
    const again = await openJson('ben.age', '-i', keyFile('ben'));
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ trust: 'known' });
    expect(again.stderr).toBe('');
    for (const expected of [fingerprint, ssh, controller().signingKey]) {
      const given = await openJson('ana.age', '-i', keyFile('ana'), '--controller-key', expected);
      expect(given.code, given.stderr).toBe(0);
      expect(JSON.parse(given.stdout)).toMatchObject({ trust: 'expected' });
    }
    const human = await bundle('open', join(out, 'ana.age'), '-i', keyFile('ana'));
    expect(human.stdout).toContain(`/smp ${first.smp.join(' ')}`);
    expect(human.stdout.split('\n')[0]).toContain(`signed by ${ssh}`);
  }, 60_000);

  it('refuses a bundle signed by another key than the fleet\'s or the expected one (exit 2, both fingerprints, no stack)', async () => {
    const other = generateSigningKey();
    const ours = sshFingerprint(controller().signingKey);
    const theirs = sshFingerprint(other.publicKey);
    const expected = await openJson('ana.age', '-i', keyFile('ana'), '--controller-key', keyFingerprint(other.publicKey));
    expect(expected.code).toBe(2);
    expect(expected.stderr).toContain(`signed by ${ours}, not by the expected controller ${keyFingerprint(other.publicKey)}`);
    // A foreign bundle of the same fleet: well formed and signed (inside and beside), but by another controller, encrypted to ana.
    const text = signBundle(renderBundle({ fleet: 'test-fleet', group: 'fam', version: 9, date: '2025-01-01', smp: first.smp, xftp: [], retire: [] }), other.secretKey, other.publicKey);
    const sealed = await encryptTo([recipients.get('ana') ?? ''], new TextEncoder().encode(text), { armor: true });
    writeFileSync(join(out, 'foreign.age'), sealed);
    writeFileSync(join(out, 'foreign.age.sig'), sshSign(other.secretKey, other.publicKey, 'onionfleet-bundle', sealed));
    const before = readFileSync(trusted, 'utf8');
    const foreign = await openJson('foreign.age', '-i', keyFile('ana'));
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toContain(`fleet "test-fleet" is trusted with controller key ${ours}, but this bundle is signed by ${theirs}`);
    expect(foreign.stderr).toMatch(/hint: do not use it/);
    noStack(foreign);
    expect(readFileSync(trusted, 'utf8')).toBe(before);
    // The real bundle with the foreign .sig beside it: the two signers differ.
    const swapped = await openJson('ana.age', '-i', keyFile('ana'), '--signature', join(out, 'foreign.age.sig'));
    expect(swapped.code).toBe(2);
    expect(swapped.stderr).toContain('the SSH signature does not match the file');
  }, 60_000);

  it('refuses an altered, a damaged and a misdirected file (exit 2, no stack)', async () => {
    const plain = ageDecrypt('ana').stdout;
    const altered = plain.replace(first.smp[0] ?? '', first.smp[1] ?? '');
    expect(altered).not.toBe(plain);
    writeFileSync(join(out, 'altered.age'), await encryptTo([recipients.get('ana') ?? ''], new TextEncoder().encode(altered), { armor: true }));
    const run = await openJson('altered.age', '-i', keyFile('ana'));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('the bundle was altered');
    noStack(run);
    const armored = readFileSync(join(out, 'ana.age'), 'utf8').split('\n');
    armored[3] = (armored[3] ?? '').replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
    writeFileSync(join(out, 'damaged.age'), armored.join('\n'));
    const damaged = await openJson('damaged.age', '-i', keyFile('ana'));
    expect(damaged.code).toBe(2);
    expect(damaged.stderr).toMatch(/could not decrypt|damaged/);
    noStack(damaged);
    const misdirected = await openJson('ana.age', '-i', keyFile('ben'));
    expect(misdirected.code).toBe(2);
    expect(misdirected.stderr).toContain('not encrypted to the given identity');
  }, 60_000);

  it('opens the passphrase member\'s bundle with the printed passphrase, and not with another', async () => {
    const good = join(h.dir, 'cleo.pass');
    writeFileSync(good, `${exported.files[2]?.passphrase ?? ''}\n`, { mode: 0o600 });
    const run = await openJson('cleo.age', '--passphrase-file', good);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ group: 'fam', version: 1, smp: first.smp, xftp: first.xftp });
    const bad = join(h.dir, 'wrong.pass');
    writeFileSync(bad, 'not-the-passphrase-at-all\n');
    expect((await openJson('cleo.age', '--passphrase-file', bad)).code).toBe(2);
  }, 60_000);

  it('on a terminal, asks for the passphrase without echo and opens the passphrase member\'s bundle', async () => {
    const passphrase = exported.files[2]?.passphrase ?? '';
    const run = await onTerminal(BIN.onionfleet, ['bundle', 'open', join(out, 'cleo.age')], /passphrase of .*cleo\.age: /, passphrase, memberEnv());
    expect(run.code, run.screen).toBe(0);
    expect(run.screen).not.toContain(passphrase);
    for (const a of [...first.smp, ...first.xftp]) expect(run.screen.replace(/\r/g, '')).toContain(a);
  }, 60_000);

  it('refuses a member passphrase file inside the bundle directory (exit 2), writing nothing', async () => {
    const inside = join(out, 'passphrases.txt');
    writeFileSync(inside, 'cleo: a passphrase long enough\n', { mode: 0o600 });
    const before = readFileSync(join(out, 'ana.age'));
    const run = await exportBundles(join(h.dir, 'fleet.yaml'), '--member-passphrases', inside);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--member-passphrases: ${inside} lies in the bundle directory ${out}`);
    expect(readFileSync(join(out, 'ana.age')).equals(before)).toBe(true);
  }, 60_000);

  it('refuses to export while a placed instance reports no address, naming it (exit 1), and keeps the version', async () => {
    for (const d of DEVICES) await h.stopAgent(d);
    expect((await h.apply(fleet(4))).code).toBe(0);
    const run = await exportBundles(join(h.dir, 'fleet.yaml'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/not every instance of group "fam" reports its address: fam-smp-\d+ \(pi-[ab]: [^)]+\)/);
    noStack(run);
    expect(JSON.parse(readFileSync(join(h.state, 'bundles/fam.json'), 'utf8'))).toMatchObject({ version: 1 });
    for (const d of DEVICES) h.startAgent(d);
  }, 120_000);

  it('after the group shrinks, version 2 lists every dropped address to retire 14 days later', async () => {
    const applied = await h.apply(fleet(2), '--wait', '--timeout', '120');
    expect(applied.code, applied.stderr).toBe(0);
    const now = await addresses(2);
    const run = await exportBundles(join(h.dir, 'fleet.yaml'), '--json');
    expect(run.code, run.stderr).toBe(0);
    const second = JSON.parse(run.stdout) as Exported;
    expect(second).toMatchObject({ version: 2, changed: true });
    const opened = JSON.parse((await openJson('ana.age', '-i', keyFile('ana'))).stdout) as Opened;
    expect(opened).toMatchObject({ version: 2, smp: now.smp, xftp: now.xftp });
    const dropped = [...first.smp, ...first.xftp].filter((a) => !now.smp.includes(a) && !now.xftp.includes(a)).sort();
    expect(dropped.length).toBeGreaterThan(0);
    expect(opened.retire).toEqual(dropped.map((address) => ({ address, after: addDays(second.date, 14) })));
    const text = ageDecrypt('ben').stdout;
    for (const a of dropped) expect(text).toContain(`${a}  retire after ${addDays(second.date, 14)}`);
  }, 240_000);
});
