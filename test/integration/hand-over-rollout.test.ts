/**
 * An `apply` that moves an instance with its identity goes through the rollout's hand-over order
 * (controller/rollout/waves.ts, drive.ts): the device the instance leaves changes in an earlier wave
 * than the device it joins, the receiver's wave waits for the final backup, and the instance answers
 * at the same address (onion, fingerprint, password) from its new device. A revocation, on the other
 * hand, never carries the keys: the instance gets a new address and the next bundle lists the old one
 * as retired at once. Real nats-server and agents.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeIdentity } from '#shared/probes/tls-identity.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import type { RolloutEvent } from '../../controller/rollout/events.ts';
import { BIN, runBin } from '../support/cli.ts';
import { FleetHarness, fleetYaml } from '../support/fleet-harness.ts';

let h: FleetHarness;
const devices = [{ id: 'pi-a', operator: 'alice' }, { id: 'pi-b', operator: 'bob' }, { id: 'pi-c', operator: 'carol' }];
const group = { id: 'press', smp: 1, xftp: 0, continuity: '{ backupInterval: 10s }' };
const instance = 'press-smp-01';
const root = (id: string) => h.devices.get(id)?.root ?? '';
const runningDesired = (id: string) => DesiredState.parse(JSON.parse(readFileSync(join(root(id), 'var/lib/onionfleet/desired.json'), 'utf8')));
const holder = () => devices.map((d) => d.id).find((id) => runningDesired(id).instances.some((i) => i.id === instance)) ?? '';
const addressOn = (device: string) => ({
  onion: readFileSync(join(root(device), 'var/lib/tor/onionfleet', instance, 'hostname'), 'utf8').trim(),
  fingerprint: readFileSync(join(root(device), 'etc/opt/simplex', instance, 'fingerprint'), 'utf8').trim(),
  password: runningDesired(device).instances.find((i) => i.id === instance)?.password ?? '',
});
const events = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('{"event"')).map((l) => JSON.parse(l) as RolloutEvent);

beforeAll(async () => {
  h = await FleetHarness.create();
  await h.startServe();
  for (const d of devices) {
    await h.enroll(d.id);
    h.startAgent(d.id);
  }
  const applied = await h.apply(h.writeFleet(fleetYaml(devices, [group])), '--wait', '--timeout', '120');
  if (applied.code !== 0) throw new Error(`apply failed: ${applied.stderr}${applied.stdout}`);
}, 240_000);

afterAll(async () => {
  await h.stop();
}, 60_000);

describe('apply moves an instance with its identity', () => {
  it('changes the device it leaves first, waits for the final backup, and keeps the address', async () => {
    const from = holder();
    const before = addressOn(from);
    const drained = devices.map((d) => (d.id === from ? { ...d, state: 'draining' } : d));
    const run = await h.apply(h.writeFleet(fleetYaml(drained, [group])), '--wait', '--timeout', '180', '--json');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const planned = events(run.stdout).find((e) => e.event === 'planned');
    const waveOf = (id: string) => (planned?.event === 'planned' ? planned.waves.findIndex((w) => w.devices.includes(id)) : -1);
    const to = holder();
    expect(to).not.toBe(from);
    expect(waveOf(from)).toBeGreaterThanOrEqual(0);
    expect(waveOf(to)).toBeGreaterThan(waveOf(from));
    const handOver = events(run.stdout).find((e) => e.event === 'hand-over');
    expect(handOver).toMatchObject({ event: 'hand-over', instances: [instance], withoutFinal: [] });

    expect(addressOn(to)).toEqual(before);
    expect(existsSync(join(root(from), 'etc/opt/simplex', instance))).toBe(false);
    const port = runningDesired(to).instances.find((i) => i.id === instance)?.localPort ?? 0;
    const probe = await probeIdentity({ host: '127.0.0.1', port, kind: 'smp', fingerprint: before.fingerprint, timeoutMs: 20_000 });
    expect(probe.identityOk && probe.helloOk).toBe(true);
  }, 300_000);
});

describe('revoke never carries the identity', () => {
  it('gives the revoked device\'s instance a new address and lists the old one to retire in the next bundle', async () => {
    const cli = (...args: string[]) => runBin(BIN.onionfleet, [...args, '--state', h.state, ...h.passphraseFlags]);
    const fleet = h.writeFleet(fleetYaml(devices, [group]));
    const out = join(h.dir, 'bundles');
    const first = await cli('bundle', 'export', '--group', 'press', '--out', out, '-f', fleet, '--json');
    expect(first.code, first.stderr).toBe(0);
    const revokedDevice = holder();
    const before = addressOn(revokedDevice);
    const revoked = await cli('device', 'revoke', revokedDevice, '-f', fleet, '--wait', '--timeout', '120', '--json');
    expect(revoked.code, revoked.stderr + revoked.stdout).toBe(0);
    // The revoked device is cut off: it never hears its new desired state (its own copy still lists the instance).
    const now = devices.map((d) => d.id).find((id) => id !== revokedDevice && runningDesired(id).instances.some((i) => i.id === instance)) ?? '';
    expect(now).not.toBe('');
    const after = addressOn(now);
    expect(after.onion).not.toBe(before.onion);
    expect(after.fingerprint).not.toBe(before.fingerprint);
    expect(after.password).not.toBe(before.password);
    const second = await cli('bundle', 'export', '--group', 'press', '--out', out, '-f', fleet, '--json');
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ retire: 1 });
  }, 300_000);
});
