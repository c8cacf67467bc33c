/**
 * `device drain` and `device revoke` with the real nats-server and agent processes. Drain: the
 * draining device keeps its instances until the replacements are healthy (with the replacement's agent
 * stopped, the drain times out and nothing stops). Revoke: the device is cut off from NATS at once
 * and its instances move; a later `apply` of an unchanged fleet.yaml does not bring it back.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsAuthFailedError, connectNats } from '#shared/nats/connect.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { BIN, runBin } from '../support/cli.ts';
import { FleetHarness, fleetYaml } from '../support/fleet-harness.ts';
import { alive, until } from '../support/processes.ts';

let h: FleetHarness;
let fleet: string;
const devices = [{ id: 'pi-a', operator: 'alice' }, { id: 'pi-b', operator: 'bob' }, { id: 'pi-c', operator: 'carol' }];
const runningDesired = (id: string) => DesiredState.parse(JSON.parse(readFileSync(join(h.devices.get(id)?.root ?? '', 'var/lib/onionfleet/desired.json'), 'utf8')));
const supervised = (id: string, instance: string, kind: string) => join(h.devices.get(id)?.root ?? '', 'run/onionfleet', `onionfleet-${kind}@${instance}.service.pid`);
const pidOf = (path: string) => (JSON.parse(readFileSync(path, 'utf8')) as { pid: number }).pid;
const cli = (...args: string[]) => runBin(BIN.onionfleet, [...args, '--state', h.state]);

beforeAll(async () => {
  h = await FleetHarness.create();
  await h.startServe();
  for (const d of devices) {
    await h.enroll(d.id);
    h.startAgent(d.id);
  }
  // No identity copies: moves give new addresses, replacements first (continuity.test.ts has the other path).
  fleet = h.writeFleet(fleetYaml(devices, [{ id: 'fam', smp: 3, xftp: 1, continuity: '{ identityCopies: false }' }]));
  const applied = await h.apply(fleet, '--wait', '--timeout', '120');
  if (applied.code !== 0) throw new Error(`apply failed: ${applied.stderr}${applied.stdout}`);
}, 180_000);

afterAll(async () => {
  await h.stop();
}, 60_000);

describe('device drain', () => {
  it('keeps the draining device running until the replacements are healthy, then stops it', async () => {
    const onA = runningDesired('pi-a').instances;
    expect(onA.length).toBeGreaterThan(0);
    const pidsOnA = onA.map((i) => pidOf(supervised('pi-a', i.id, i.kind)));
    const revisionA = runningDesired('pi-a').revision;

    // With both other agents stopped no replacement can become healthy: the drain must give up and stop nothing.
    await h.stopAgent('pi-b');
    await h.stopAgent('pi-c');
    const blocked = await cli('device', 'drain', 'pi-a', '-f', fleet, '--timeout', '8', '--json');
    expect(blocked.code, blocked.stderr).toBe(1);
    expect(JSON.parse(blocked.stdout)).toMatchObject({ drained: false, device: 'pi-a', phase: 1 });
    expect(runningDesired('pi-a').revision).toBe(revisionA);
    expect(pidsOnA.every(alive)).toBe(true);

    h.startAgent('pi-b');
    h.startAgent('pi-c');
    const drained = await cli('device', 'drain', 'pi-a', '-f', fleet, '--timeout', '120');
    expect(drained.code, drained.stderr + drained.stdout).toBe(0);
    expect(drained.stderr).toMatch(/\[2\/3\] replacements healthy on 2\/2 devices/);
    expect(runningDesired('pi-a').instances).toEqual([]);
    await until('the drained instances to stop', () => (pidsOnA.some(alive) ? null : true), 30_000);
    const elsewhere = [...runningDesired('pi-b').instances, ...runningDesired('pi-c').instances];
    expect(elsewhere).toHaveLength(4);
  }, 240_000);
});

describe('device revoke', () => {
  it('cuts the device off from NATS at once, re-places its instances, and a later apply keeps it out', async () => {
    const seed = readFileSync(join(h.devices.get('pi-b')?.root ?? '', 'etc/onionfleet/keys/nats.nk'), 'utf8').trim();
    const revoked = await cli('device', 'revoke', 'pi-b', '-f', fleet, '--wait', '--timeout', '120', '--json');
    expect(revoked.code, revoked.stderr + revoked.stdout).toBe(0);
    const out = JSON.parse(revoked.stdout) as { revoked: string; natsReloaded: boolean; converged: boolean };
    expect(out).toMatchObject({ revoked: 'pi-b', natsReloaded: true, converged: true });

    await expect(connectNats({ servers: h.natsUrl(), nkeySeed: seed, name: 'pi-b', timeoutMs: 5_000, reconnect: false })).rejects.toBeInstanceOf(NatsAuthFailedError);
    expect(existsSync(join(h.state, 'tor/nats-onion/authorized_clients/device-pi-b.auth'))).toBe(false);
    expect(existsSync(join(h.state, 'tor/nats-onion/authorized_clients/device-pi-c.auth'))).toBe(true);
    // Revoked devices stay listed, as revoked with the date, and pi-a as draining.
    const listed = JSON.parse((await cli('device', 'list', '--json')).stdout) as { device: string; state: string; since: string | null }[];
    expect(listed.map((d) => [d.device, d.state])).toEqual([['pi-a', 'draining'], ['pi-b', 'revoked'], ['pi-c', 'enrolled']]);
    expect(listed.find((d) => d.device === 'pi-b')?.since).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect((await cli('device', 'list')).stdout).toMatch(/pi-b\s+revoked\s+\d{4}-\d{2}-\d{2}/);
    // pi-a is draining and pi-b revoked: everything now runs on pi-c.
    expect(runningDesired('pi-c').instances).toHaveLength(4);

    // fleet.yaml still says pi-b is active: the revocation stands.
    const again = await h.apply(fleet, '--wait', '--timeout', '60', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(runningDesired('pi-c').instances).toHaveLength(4);
    const plan = JSON.parse((await cli('plan', '-f', fleet, '--deployed', '--json')).stdout) as { placements: { device: string }[] };
    expect(plan.placements.map((p) => p.device)).not.toContain('pi-b');
  }, 240_000);

  it('a drain the plan cannot meet exits 3 and leaves no mark: a later apply still works', async () => {
    // pi-a is drained and pi-b revoked: draining pi-c would leave nowhere for the group.
    const refused = await cli('device', 'drain', 'pi-c', '-f', fleet, '--timeout', '30');
    expect(refused.code, refused.stderr).toBe(3);
    expect(JSON.parse(readFileSync(join(h.state, 'device-states.json'), 'utf8'))).not.toHaveProperty('pi-c');
    const applied = await h.apply(fleet, '--wait', '--timeout', '60');
    expect(applied.code, applied.stderr).toBe(0);
  }, 120_000);

  it('refuses to revoke a device fleet.yaml does not name (exit 2)', async () => {
    const run = await cli('device', 'revoke', 'pi-zz', '-f', fleet);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/no device "pi-zz"/);
  });
});
