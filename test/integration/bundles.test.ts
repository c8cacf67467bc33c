/**
 * Member bundles end to end, with the real nats-server, two agents running the SimpleX doubles,
 * and the Debian `age` CLI: export after apply (files 0600, one per member, QR PNGs); the age CLI
 * decrypts a member's bundle and finds every reported address; `bundle open` verifies, prints and
 * pins the controller key, and refuses (exit 2) a pinned mismatch, an altered, damaged or foreign
 * file; a passphrase member opens theirs with the printed passphrase; export refuses while a placed
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
import { connectNats } from '#shared/nats/connect.ts';
import { getEntry, openStatus } from '#shared/nats/kv.ts';
import { DeviceStatus } from '#shared/schema/status.ts';
import { BIN, runBin, type CliRun } from '../support/cli.ts';
import { FleetHarness } from '../support/fleet-harness.ts';
import { until } from '../support/processes.ts';

const hasAge = spawnSync('age', ['--version']).status === 0 && spawnSync('age-keygen', ['--version']).status === 0;
const DEVICES = ['pi-a', 'pi-b'] as const;

let h: FleetHarness;
let out = '';
let pin = '';
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

const bundle = (...args: string[]): Promise<CliRun> => runBin(BIN.onionfleet, ['bundle', ...args], { env: { ONIONFLEET_PIN_FILE: pin } });
const exportBundles = (fleetFile: string, ...flags: string[]) => bundle('export', '--group', 'fam', '--out', out, '-f', fleetFile, '--state', h.state, ...flags);
const openJson = (file: string, ...flags: string[]) => bundle('open', join(out, file), '--json', ...flags);
const ageDecrypt = (member: string) => spawnSync('age', ['-d', '-i', keyFile(member), join(out, `${member}.age`)], { encoding: 'utf8' });
const noStack = (run: CliRun): void => {
  expect(run.stderr).not.toMatch(/\n\s+at /);
};

interface Opened { group: string; version: number; date: string; smp: string[]; xftp: string[]; retire: { address: string; after: string }[]; controllerKey: string; fingerprint: string }
interface Exported { version: number; date: string; changed: boolean; files: { member: string; file: string; encryption: string; passphrase?: string; qr: string[] }[] }

let first: { smp: string[]; xftp: string[] };
let exported: Exported;

beforeAll(async () => {
  h = await FleetHarness.create();
  out = join(h.dir, 'bundles');
  pin = join(h.dir, 'member-home', 'pinned-controller');
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
  it('exports one bundle per member after apply: files 0600, QR codes, a generated passphrase printed once', async () => {
    const applied = await h.apply(fleet(3), '--wait', '--timeout', '120');
    expect(applied.code, applied.stderr).toBe(0);
    first = await addresses(3);
    const run = await exportBundles(join(h.dir, 'fleet.yaml'), '--qr', 'png', '--json');
    expect(run.code, run.stderr).toBe(0);
    exported = JSON.parse(run.stdout) as Exported;
    expect(exported).toMatchObject({ version: 1, changed: true });
    expect(exported.files.map((f) => [f.member, f.encryption])).toEqual([['ana', 'recipient'], ['ben', 'recipient'], ['cleo', 'passphrase']]);
    const passphrase = exported.files[2]?.passphrase ?? '';
    expect(passphrase).toMatch(/^[a-z2-7]{4}(?:-[a-z2-7]{4}){5}$/);
    expect(run.stderr).not.toContain(passphrase);
    for (const f of exported.files) {
      expect(mode(f.file)).toBe(0o600);
      expect(readFileSync(f.file, 'utf8')).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----/);
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

  it('opens: verifies, prints the servers as JSON and pins the controller key on first use', async () => {
    const run = await openJson('ana.age', '-i', keyFile('ana'));
    expect(run.code, run.stderr).toBe(0);
    const fingerprint = keyFingerprint(controller().signingKey);
    expect(JSON.parse(run.stdout)).toMatchObject({ group: 'fam', version: 1, date: exported.date, smp: first.smp, xftp: first.xftp, retire: [], controllerKey: controller().signingKey, fingerprint } satisfies Partial<Opened>);
    expect(run.stderr).toContain(`pinned the controller key ${fingerprint}`);
    expect(readFileSync(pin, 'utf8')).toContain(controller().signingKey);
    const again = await openJson('ben.age', '-i', keyFile('ben'));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('pinned the');
    expect((await openJson('ana.age', '-i', keyFile('ana'), '--controller-key', fingerprint)).code).toBe(0);
    const human = await bundle('open', join(out, 'ana.age'), '-i', keyFile('ana'));
    expect(human.stdout).toContain(`/smp ${first.smp.join(' ')}`);
  }, 60_000);

  it('refuses a bundle signed by another key than the pinned or expected one (exit 2, one line, no stack)', async () => {
    const other = generateSigningKey();
    const expected = await openJson('ana.age', '-i', keyFile('ana'), '--controller-key', keyFingerprint(other.publicKey));
    expect(expected.code).toBe(2);
    expect(expected.stderr).toContain(`not by the expected controller ${keyFingerprint(other.publicKey)}`);
    const saved = readFileSync(pin, 'utf8');
    writeFileSync(pin, `${other.publicKey}\n`);
    const pinned = await openJson('ana.age', '-i', keyFile('ana'));
    writeFileSync(pin, saved);
    expect(pinned.code).toBe(2);
    expect(pinned.stderr).toMatch(new RegExp(`signed by ${keyFingerprint(controller().signingKey).replace(/[+/]/g, '\\$&')}, but the pinned controller is ${keyFingerprint(other.publicKey).replace(/[+/]/g, '\\$&')}`));
    noStack(pinned);
    // A foreign bundle: well formed and signed, but by another controller, encrypted to ana.
    const text = signBundle(renderBundle({ fleet: 'evil', group: 'fam', version: 9, date: '2025-01-01', smp: first.smp, xftp: [], retire: [] }), other.secretKey, other.publicKey);
    writeFileSync(join(out, 'foreign.age'), await encryptTo([recipients.get('ana') ?? ''], new TextEncoder().encode(text), { armor: true }));
    const foreign = await openJson('foreign.age', '-i', keyFile('ana'));
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toContain('but the pinned controller is');
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
