/**
 * Member continuity with the real nats-server and agent processes (no Tor: the e2e suite has that):
 * a drain keeps the moved instance's address (same onion, fingerprint, password) and its queues, the
 * old device stops before the new one starts; `device lost` restores every instance of a SIGKILLed
 * device from its newest backup at the same address and reports the backup age; a device that comes
 * back archives its copies; `backup verify` with an offline key alone checks every backup, and a
 * tampered one is refused (exit 2); no identity material in any log.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAgeIdentity } from '#shared/crypto/age.ts';
import { probeIdentity } from '#shared/probes/tls-identity.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { BIN, runBin } from '../support/cli.ts';
import { FleetHarness, fleetYaml } from '../support/fleet-harness.ts';
import { alive, stopPid, until } from '../support/processes.ts';
import { queueCommands } from '../support/queue-client.ts';

let h: FleetHarness;
let fleet: string;
let offline: { identity: string; recipient: string };
let keyFile: string;
const devices = [{ id: 'pi-a', operator: 'alice' }, { id: 'pi-b', operator: 'bob' }, { id: 'pi-c', operator: 'carol' }];
const root = (id: string) => h.devices.get(id)?.root ?? '';
const runningDesired = (id: string) => DesiredState.parse(JSON.parse(readFileSync(join(root(id), 'var/lib/onionfleet/desired.json'), 'utf8')));
const cli = (...args: string[]) => runBin(BIN.onionfleet, [...args, '--state', h.state]);
const holder = (instance: string, except: string | null = null) => devices.map((d) => d.id).find((id) => id !== except && runningDesired(id).instances.some((i) => i.id === instance)) ?? null;

interface Address { onion: string; fingerprint: string; password: string }
function addressOn(device: string, instance: string): Address {
  const desired = runningDesired(device).instances.find((i) => i.id === instance);
  return {
    onion: readFileSync(join(root(device), 'var/lib/tor/onionfleet', instance, 'hostname'), 'utf8').trim(),
    fingerprint: readFileSync(join(root(device), 'etc/opt/simplex', instance, 'fingerprint'), 'utf8').trim(),
    password: desired?.password ?? '',
  };
}
const portOn = (device: string, instance: string) => runningDesired(device).instances.find((i) => i.id === instance)?.localPort ?? 0;

interface BackupRow { ok: boolean; instance: string | null; device: string; reason: string | null; ageSeconds: number | null; storeLog: string | null }
async function backups(): Promise<BackupRow[]> {
  const run = await cli('backup', 'list', '--json');
  if (run.code !== 0) throw new Error(`backup list: ${run.stderr}`);
  return (JSON.parse(run.stdout) as { backups: BackupRow[] }).backups;
}

beforeAll(async () => {
  offline = await generateAgeIdentity();
  h = await FleetHarness.create();
  keyFile = join(h.dir, 'offline.key');
  await writeFile(keyFile, `${offline.identity}\n`, { mode: 0o600 });
  await h.startServe();
  for (const d of devices) {
    await h.enroll(d.id);
    h.startAgent(d.id);
  }
  fleet = h.writeFleet(fleetYaml(devices, [{ id: 'press', smp: 2, xftp: 0, continuity: `{ backupInterval: 10s, offlineRecipients: [${offline.recipient}] }` }]));
  const applied = await h.apply(fleet, '--wait', '--timeout', '120');
  if (applied.code !== 0) throw new Error(`apply failed: ${applied.stderr}${applied.stdout}`);
  await until('a backup of each instance', async () => ((await backups()).filter((b) => b.ok).length >= 2 ? true : null), 60_000);
}, 240_000);

afterAll(async () => {
  await h.stop();
}, 60_000);

describe('a drain keeps the address', () => {
  it('serves the same onion, fingerprint and password from another device, with the queues written before', async () => {
    const instance = 'press-smp-01';
    const from = holder(instance);
    expect(from).not.toBeNull();
    const before = addressOn(from ?? '', instance);
    expect(await queueCommands({ host: '127.0.0.1', port: portOn(from ?? '', instance) }, ['DOUBLE NEW qdrain1', 'DOUBLE NEW qdrain2'])).toEqual(['OK', 'OK']);

    const drained = await cli('device', 'drain', from ?? '', '-f', fleet, '--timeout', '150');
    expect(drained.code, drained.stderr + drained.stdout).toBe(0);
    expect(drained.stdout).toMatch(/^drained pi-.: its instances run elsewhere; \d instances? kept/);
    // The old device stopped before the new one started (phase order), and no final backup was missing.
    expect(drained.stderr).toMatch(/hand-over: 1\/1 devices stopped the instances that move[\s\S]*start the instances that moved/);
    expect(drained.stderr).not.toMatch(/no final backup/);

    const to = holder(instance);
    expect(to).not.toBeNull();
    expect(to).not.toBe(from);
    expect(addressOn(to ?? '', instance)).toEqual(before);
    expect(existsSync(join(root(from ?? ''), 'etc/opt/simplex', instance))).toBe(false);
    const probe = await probeIdentity({ host: '127.0.0.1', port: portOn(to ?? '', instance), kind: 'smp', fingerprint: before.fingerprint, timeoutMs: 20_000 });
    expect(probe.identityOk && probe.helloOk).toBe(true);
    expect(await queueCommands({ host: '127.0.0.1', port: portOn(to ?? '', instance) }, ['DOUBLE GET qdrain1', 'DOUBLE GET qdrain2'])).toEqual(['YES', 'YES']);
    expect((await backups()).some((b) => b.ok && b.instance === instance && b.reason === 'final')).toBe(true);
  }, 240_000);
});

describe('device lost', () => {
  it('restores every instance of a SIGKILLed device at the same address and reports the backup age; a returning device archives its copies', async () => {
    const lost = devices.map((d) => d.id).find((id) => runningDesired(id).instances.length > 0 && h.devices.get(id)?.agent !== null) ?? '';
    const held = runningDesired(lost).instances.map((i) => i.id);
    expect(held.length).toBeGreaterThan(0);
    const addresses = new Map(held.map((i) => [i, addressOn(lost, i)]));
    const first = held[0] ?? '';
    expect(await queueCommands({ host: '127.0.0.1', port: portOn(lost, first) }, ['DOUBLE NEW qlost1'])).toEqual(['OK']);
    // The store log is sealed again within the backup interval (10 s): wait for a backup that has it.
    const since = Date.now();
    await until('a store-log backup after the queue was written', async () => ((await backups()).some((b) => b.ok && b.instance === first && b.reason === 'store-log' && (b.ageSeconds ?? 1e9) * 1000 <= Date.now() - since + 1000) ? true : null), 60_000);

    // SIGKILL the agent and its servers.
    await h.stopAgent(lost, 'SIGKILL');
    const pids = readdirSync(join(root(lost), 'run/onionfleet')).filter((f) => f.endsWith('.pid')).map((f) => (JSON.parse(readFileSync(join(root(lost), 'run/onionfleet', f), 'utf8')) as { pid: number }).pid);
    for (const pid of pids) await stopPid(pid, 'SIGKILL');

    const run = await cli('device', 'lost', lost, '-f', fleet, '--wait', '--timeout', '120', '--json');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const out = JSON.parse(run.stdout) as { instances: { instance: string; keepsAddress: boolean; backupAgeSeconds: number | null }[]; converged: boolean };
    expect(out.converged).toBe(true);
    expect(out.instances.map((i) => i.instance).sort()).toEqual([...held].sort());
    for (const i of out.instances) {
      expect(i.keepsAddress).toBe(true);
      expect(i.backupAgeSeconds).toEqual(expect.any(Number));
    }
    for (const [instance, address] of addresses) {
      const now = holder(instance, lost);
      expect(now).not.toBeNull();
      expect(addressOn(now ?? '', instance)).toEqual(address);
      const probe = await probeIdentity({ host: '127.0.0.1', port: portOn(now ?? '', instance), kind: 'smp', fingerprint: address.fingerprint, timeoutMs: 20_000 });
      expect(probe.identityOk).toBe(true);
    }
    const firstNow = holder(first, lost) ?? '';
    expect(await queueCommands({ host: '127.0.0.1', port: portOn(firstNow, first) }, ['DOUBLE GET qlost1', 'DOUBLE GET qdrain1'])).toEqual(['YES', 'YES']);

    // Nothing waits on a dead Pi: an apply --wait of the same fleet converges without it (its desired
    // state changed when it was declared lost, and it will never report that revision).
    const again = await h.apply(fleet, '--wait', '--timeout', '90', '--json');
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(Object.keys((JSON.parse(again.stdout) as { revisions: Record<string, number> }).revisions)).not.toContain(lost);

    // The lost device comes back: it hears a desired state without the instances and archives its copies.
    h.startAgent(lost);
    await until('the returning device to archive its copies', () => (held.every((i) => !existsSync(join(root(lost), 'etc/opt/simplex', i))) ? true : null), 60_000);
    expect(runningDesired(lost).instances).toEqual([]);
    expect(pids.some(alive)).toBe(false);
  }, 300_000);
});

describe('rotate', () => {
  it('gives a new address; the old one answers as retiring until its date, then stops', async () => {
    const instance = 'press-smp-01';
    const device = holder(instance) ?? '';
    const before = addressOn(device, instance);
    const port = portOn(device, instance);
    const run = await cli('rotate', instance, '-f', fleet, '--retire-after', '1m', '--wait', '--timeout', '120', '--json');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const out = JSON.parse(run.stdout) as { retiresAt: string; converged: boolean };
    expect(out.converged).toBe(true);

    const after = addressOn(device, instance);
    expect(after.onion).not.toBe(before.onion);
    expect(after.fingerprint).not.toBe(before.fingerprint);
    expect(after.password).not.toBe(before.password);
    expect((await probeIdentity({ host: '127.0.0.1', port, kind: 'smp', fingerprint: after.fingerprint, timeoutMs: 20_000 })).identityOk).toBe(true);
    const retiring = runningDesired(device).retiring?.[0];
    expect(retiring?.fingerprint).toBe(before.fingerprint);
    const oldPort = retiring?.instance.localPort ?? 0;
    await until('the old identity to answer as retiring', async () => ((await probeIdentity({ host: '127.0.0.1', port: oldPort, kind: 'smp', fingerprint: before.fingerprint, timeoutMs: 10_000 })).identityOk ? true : null), 60_000);
    expect(readFileSync(join(root(device), 'var/lib/tor/onionfleet', `${instance}-retiring`, 'hostname'), 'utf8').trim()).toBe(before.onion);

    // After the retire date the agent stops and archives it by itself.
    await until('the retiring instance to be archived after its date', () => (Date.now() > Date.parse(out.retiresAt)
      && !existsSync(join(root(device), 'etc/opt/simplex', `${instance}-retiring`)) ? true : null), 150_000);
    expect((await probeIdentity({ host: '127.0.0.1', port: oldPort, kind: 'smp', fingerprint: before.fingerprint, timeoutMs: 5_000 })).reachable).toBe(false);
    expect((await probeIdentity({ host: '127.0.0.1', port, kind: 'smp', fingerprint: after.fingerprint, timeoutMs: 20_000 })).identityOk).toBe(true);
  }, 240_000);
});

describe('backup verify', () => {
  it('checks every backup with the offline key alone, from an export, and refuses a tampered one (exit 2)', async () => {
    const online = await cli('backup', 'verify', '--identity', keyFile, '--json');
    expect(online.code, online.stderr).toBe(0);
    expect((JSON.parse(online.stdout) as { verified: number }).verified).toBeGreaterThanOrEqual(2);

    const dir = await mkdtemp(join(tmpdir(), 'onionfleet-backups-'));
    try {
      const exported = await cli('backup', 'export', '--out', join(dir, 'out'));
      expect(exported.code, exported.stderr).toBe(0);
      const verify = (...extra: string[]) => runBin(BIN.onionfleet, ['backup', 'verify', '--dir', join(dir, 'out'), '--identity', keyFile, ...extra]);
      expect((await verify()).code).toBe(0);

      const file = readdirSync(join(dir, 'out')).find((f) => f.endsWith('.age')) ?? '';
      const bytes = await readFile(join(dir, 'out', file));
      bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0x01;
      await writeFile(join(dir, 'out', file), bytes);
      const tampered = await verify('--json');
      expect(tampered.code).toBe(2);
      expect(tampered.stderr).toMatch(/backups refused/);

      const other = await generateAgeIdentity();
      await writeFile(join(dir, 'other.key'), `${other.identity}\n`, { mode: 0o600 });
      expect((await runBin(BIN.onionfleet, ['backup', 'verify', '--dir', join(dir, 'out'), '--identity', join(dir, 'other.key')])).code).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('leaves no identity material in any log', async () => {
    const logs = await h.allLogs();
    const secrets: string[] = [];
    for (const d of devices) {
      for (const i of runningDesired(d.id).instances) {
        secrets.push(i.password, addressOn(d.id, i.id).onion.replace('.onion', ''));
        const key = await readFile(join(root(d.id), 'etc/opt/simplex', i.id, 'server.key'), 'utf8');
        secrets.push(key.split('\n')[1] ?? '');
      }
    }
    expect(secrets.length).toBeGreaterThan(0);
    for (const s of secrets) expect(s.length > 10 && logs.includes(s)).toBe(false);
  });
});
