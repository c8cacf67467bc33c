/**
 * The control plane with the real nats-server and real agent processes: apply → converge; signed,
 * encrypted documents refused when forged, misdirected or old (the device keeps running its last
 * good state); faults (nats-server killed mid-apply, an agent killed mid-apply, the controller
 * stopped); and no secret of the run in any log.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seal } from '#shared/crypto/envelope.ts';
import { generateSigningKey } from '#shared/crypto/sign.ts';
import { connectNats } from '#shared/nats/connect.ts';
import { getEntry, openDesired, openStatus } from '#shared/nats/kv.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { DeviceStatus } from '#shared/schema/status.ts';
import { open } from '#shared/crypto/envelope.ts';
import { BIN, runBin } from '../support/cli.ts';
import { FleetHarness, fleetYaml } from '../support/fleet-harness.ts';
import { alive, stopPid, until } from '../support/processes.ts';

let h: FleetHarness;
let fleet: string;
const key = (name: string) => readFileSync(join(h.state, 'keys', name), 'utf8').trim();
const record = (id: string) => JSON.parse(readFileSync(join(h.dir, 'devices', id, 'record.json'), 'utf8')) as { ageRecipient: string; signingKey: string };

async function bus() {
  const nc = await connectNats({ servers: h.natsUrl(), nkeySeed: key('nats.nk'), name: 'test-controller', timeoutMs: 10_000 });
  return { nc, desired: await openDesired(nc, { create: false }), status: await openStatus(nc, { create: false }) };
}

/** The device's status as the controller reads it. */
async function statusOf(id: string): Promise<DeviceStatus | null> {
  const b = await bus();
  try {
    const entry = await getEntry(b.status, id);
    if (entry === null) return null;
    return (await open(entry.value, { identity: key('age.key'), signer: record(id).signingKey, kind: 'status', device: id, schema: DeviceStatus })).body;
  } finally {
    await b.nc.close();
  }
}

/** The desired state the device runs (its own copy), for revisions, passwords and ports. */
const runningDesired = (id: string) => DesiredState.parse(JSON.parse(readFileSync(join(h.devices.get(id)?.root ?? '', 'var/lib/onionfleet/desired.json'), 'utf8')));
const supervisedPids = (id: string) => readdirSync(join(h.devices.get(id)?.root ?? '', 'run/onionfleet')).map((f) => (JSON.parse(readFileSync(join(h.devices.get(id)?.root ?? '', 'run/onionfleet', f), 'utf8')) as { pid: number }).pid).sort();

beforeAll(async () => {
  h = await FleetHarness.create();
  await h.startServe();
  await h.enroll('pi-a');
  await h.enroll('pi-b');
  h.startAgent('pi-a');
  h.startAgent('pi-b');
  fleet = h.writeFleet(fleetYaml([{ id: 'pi-a', operator: 'alice' }, { id: 'pi-b', operator: 'bob' }], [{ id: 'fam', smp: 3, xftp: 1 }]));
}, 120_000);

afterAll(async () => {
  await h.stop();
}, 60_000);

describe('control plane', () => {
  it('applies and waits until every device runs the new revision, healthy', async () => {
    const run = await h.apply(fleet, '--wait', '--timeout', '90');
    expect(run.stderr).toMatch(/converged 2\/2 devices/);
    expect(run.code).toBe(0);
    // A later heartbeat may catch an instance mid-probe on a loaded machine: wait, do not sample once.
    const status = await until('status to show both devices converged', async () => {
      const s = JSON.parse((await h.status()).stdout) as { devices: { device: string; converged: boolean; healthy: number; total: number }[] };
      return s.devices.every((d) => d.converged) ? s : null;
    }, 60_000);
    expect(status.devices.map((d) => [d.device, d.converged])).toEqual([['pi-a', true], ['pi-b', true]]);
    expect(status.devices.reduce((n, d) => n + d.healthy, 0)).toBe(4);
  }, 120_000);

  it('plans against what is deployed with --deployed: everything kept', async () => {
    const run = await runBin(BIN.onionfleet, ['plan', '-f', fleet, '--deployed', '--state', h.state, '--json']);
    expect(run.code).toBe(0);
    const plan = JSON.parse(run.stdout) as { placements: unknown[]; diff: { kept: string[]; added: string[] } };
    expect(plan.diff.added).toEqual([]);
    expect(plan.diff.kept).toHaveLength(plan.placements.length);
  });

  it('refuses a desired state signed by another key, and keeps running the last good one', async () => {
    const before = supervisedPids('pi-a');
    const applied = runningDesired('pi-a');
    const rogue = generateSigningKey();
    const forged = { ...applied, revision: applied.revision + 10, instances: [] };
    const b = await bus();
    await b.desired.put('pi-a', await seal({ kind: 'desired-state', device: 'pi-a', revision: forged.revision, body: forged }, { signingSecretKey: rogue.secretKey, recipient: record('pi-a').ageRecipient }));
    await b.nc.close();
    const status = await until('pi-a to report the refusal', async () => {
      const s = await statusOf('pi-a');
      return s?.refused?.reasons.some((r) => /signature/i.test(r)) === true ? s : null;
    }, 30_000);
    expect(status.appliedRevision).toBe(applied.revision);
    expect(status.instances.every((i) => i.healthy)).toBe(true);
    expect(supervisedPids('pi-a')).toEqual(before);
  }, 60_000);

  it("refuses a document encrypted to another device, and one that is older than what it applied", async () => {
    const applied = runningDesired('pi-a');
    const b = await bus();
    const signingSecretKey = key('signing.key');
    // Sealed by the controller, for pi-a, but encrypted to pi-b: pi-a cannot open it.
    await b.desired.put('pi-a', await seal({ kind: 'desired-state', device: 'pi-a', revision: applied.revision + 20, body: { ...applied, revision: applied.revision + 20 } }, { signingSecretKey, recipient: record('pi-b').ageRecipient }));
    await until('pi-a to refuse the misdirected document', async () => ((await statusOf('pi-a'))?.refused?.reasons.some((r) => /not for|cannot be opened|decrypt/i.test(r)) === true ? true : null), 30_000);
    // Genuine, but sealed with a revision older than the applied one.
    await b.desired.put('pi-a', await seal({ kind: 'desired-state', device: 'pi-a', revision: applied.revision - 1, body: applied }, { signingSecretKey, recipient: record('pi-a').ageRecipient }));
    await b.nc.close();
    await until('pi-a to refuse the older revision', async () => ((await statusOf('pi-a'))?.refused?.reasons.some((r) => /older/i.test(r)) === true ? true : null), 30_000);
    expect((await statusOf('pi-a'))?.appliedRevision).toBe(applied.revision);
  }, 60_000);

  it('converges after nats-server is killed in the middle of an apply and started again', async () => {
    const grown = h.writeFleet(fleetYaml([{ id: 'pi-a', operator: 'alice' }, { id: 'pi-b', operator: 'bob' }], [{ id: 'fam', smp: 5, xftp: 1 }]));
    const published = await h.apply(grown);
    expect(published.code).toBe(0);
    await stopPid(h.natsPid(), 'SIGKILL');
    await until('serve to notice', () => (h.serve?.exitCode !== null ? true : null), 15_000);
    await h.startServe();
    const waited = await h.apply(grown, '--wait', '--timeout', '120');
    expect(waited.code, waited.stderr).toBe(0);
    expect(runningDesired('pi-a').instances.length + runningDesired('pi-b').instances.length).toBe(6);
  }, 180_000);

  it('converges after an agent is killed in the middle of an apply and started again', async () => {
    const shrunk = h.writeFleet(fleetYaml([{ id: 'pi-a', operator: 'alice' }, { id: 'pi-b', operator: 'bob' }], [{ id: 'fam', smp: 4, xftp: 1 }]));
    expect((await h.apply(shrunk)).code).toBe(0);
    await h.stopAgent('pi-a', 'SIGKILL');
    h.startAgent('pi-a');
    const waited = await h.apply(shrunk, '--wait', '--timeout', '120');
    expect(waited.code, waited.stderr).toBe(0);
  }, 180_000);

  it('keeps the devices running their state while the controller is stopped', async () => {
    const before = supervisedPids('pi-b');
    await h.stopServe();
    const count = runningDesired('pi-b').instances.length;
    expect(count).toBeGreaterThan(0);
    const local = await until('pi-b to report every instance healthy on its own', async () => {
      const run = await runBin(BIN.agent, ['status', '--config', h.devices.get('pi-b')?.config ?? '', '--json']);
      return run.code === 0 ? run : null;
    }, 60_000);
    expect(JSON.parse(local.stdout)).toMatchObject({ healthy: count, total: count });
    expect(supervisedPids('pi-b')).toEqual(before);
    expect(before.every(alive)).toBe(true);
    await h.startServe();
  }, 60_000);

  it("the agents log one JSON line per event with time, level and device, and a line per step they ran", () => {
    for (const [id, d] of h.devices) {
      const lines = d.log.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { time?: string; level?: number; device?: string; step?: string; instance?: string; msg?: string });
      expect(lines.length).toBeGreaterThan(5);
      for (const line of lines) {
        expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T/);
        expect(typeof line.level).toBe('number');
        expect(line.device).toBe(id);
      }
      const steps = lines.filter((l) => l.step !== undefined);
      expect(steps.map((l) => l.step)).toEqual(expect.arrayContaining(['writeFile', 'startService', 'recordRevision']));
      expect(steps.some((l) => l.instance !== undefined && l.msg?.startsWith('init ') === true)).toBe(true);
      expect(lines.some((l) => /^converged on revision \d+/.test(l.msg ?? ''))).toBe(true);
    }
  });

  it('logs none of the passwords, onion addresses or key material the run handled', async () => {
    const secrets: string[] = [];
    for (const [id, d] of h.devices) {
      for (const i of runningDesired(id).instances) secrets.push(i.password);
      const onionDir = join(d.root, 'var/lib/tor/onionfleet');
      for (const name of readdirSync(onionDir)) secrets.push(readFileSync(join(onionDir, name, 'hostname'), 'utf8').trim().replace('.onion', ''));
      const keys = join(d.root, 'etc/onionfleet/keys');
      for (const f of readdirSync(keys).filter((f) => f !== 'device')) secrets.push(readFileSync(join(keys, f), 'utf8').trim());
    }
    for (const f of ['signing.key', 'age.key', 'nats.nk']) secrets.push(key(f));
    expect(secrets.length).toBeGreaterThan(15);
    const logs = await h.allLogs();
    expect(logs.length).toBeGreaterThan(1000);
    for (const s of secrets) expect(logs.includes(s), `a secret (${s.slice(0, 4)}…) appears in the logs`).toBe(false);
  });
});
