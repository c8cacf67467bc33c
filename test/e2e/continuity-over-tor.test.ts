/**
 * Member continuity over real onions (issue 15), on a private Tor network on loopback: 4 simulated Pis
 * of 2 operators, each with its own tor, the controller's `serve --tor`, a high-tier group. A drain of
 * the Pi that holds an SMP instance keeps its address: the same onion answers the TLS identity probe
 * through Tor with the same fingerprint from another Pi, the bundle lists the same servers, and queue
 * records written (through Tor) before the drain are in the new store log. Then a Pi's agent and
 * servers are SIGKILLed and `device lost` restores every instance it held at the same address.
 * Then changes that must change the address: `rotate` (the old onion answers through Tor as retiring
 * until its date, then stops) and `device revoke` (new addresses from other Pis, the old ones listed to
 * retire in the next bundle).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runBin, type CliRun } from '../support/cli.ts';
import { probeThroughSocks } from '#shared/probes/over-socks.ts';
import { addressOn, backupRows, controllerSocks, holderOf, killDevice, queueOverTor, runningDesired, untilAnswersThroughTor, type Address } from '../support/continuity-tor.ts';
import type { FleetHarness } from '../support/fleet-harness.ts';
import { until } from '../support/processes.ts';
import { TorFleet } from '../support/tor-fleet.ts';

const DEVICES = [
  { id: 'pi-1', operator: 'alice', location: 'berlin', jurisdiction: 'DE' },
  { id: 'pi-2', operator: 'bob', location: 'amsterdam', jurisdiction: 'NL' },
  { id: 'pi-3', operator: 'alice', location: 'hamburg', jurisdiction: 'DE' },
  { id: 'pi-4', operator: 'bob', location: 'utrecht', jurisdiction: 'NL' },
] as const;

let tf: TorFleet;
let h: FleetHarness;
let fleet: string;
let recipient: string;
const memberKey = () => join(h.dir, 'ana.key');
const cli = (...args: string[]): Promise<CliRun> => runBin(BIN.onionfleet, [...args, '--state', h.state]);

/** The member's bundle as she reads it (decrypted with her key). */
async function bundleText(name: string): Promise<string> {
  const out = join(h.dir, name);
  const run = await cli('bundle', 'export', '--group', 'press', '--out', out, '-f', fleet);
  expect(run.code, run.stderr).toBe(0);
  return spawnSync('age', ['-d', '-i', memberKey(), join(out, 'ana.age')], { encoding: 'utf8' }).stdout;
}

async function bundleServers(name: string): Promise<string[]> {
  return ((await bundleText(name)).match(/^smp:\/\/\S+@[a-z2-7]{56}\.onion$/gm) ?? []).sort();
}

/** The bundle's "Servers to retire" lines. */
const retireLines = (text: string): string[] => text.slice(text.indexOf('Servers to retire')).split('\n').filter((l) => l.includes(' retire after '));

/** One TLS identity probe of `address` through the controller's tor. */
const answersThroughTor = async (address: Address): Promise<boolean> => {
  const probe = await probeThroughSocks({ socks: controllerSocks(h), target: { host: address.onion, port: 5223 }, kind: 'smp', fingerprint: address.fingerprint, timeoutMs: 60_000 });
  return probe.identityOk && probe.helloOk;
};

/** The Pi declared lost (its copy of the desired state still lists what it held), and the drained one. */
let lostDevice: string | null = null;
let drainedDevice: string | null = null;

type Device = { readonly id: string; readonly operator: string; readonly location: string; readonly jurisdiction: string };

function fleetYaml(devices: readonly Device[], recipient: string): string {
  return [
    'version: 1', 'fleet: e2e', 'operators:', '  - id: alice', '  - id: bob', 'devices:',
    ...devices.map((d) => `  - { id: ${d.id}, operator: ${d.operator}, location: ${d.location}, jurisdiction: ${d.jurisdiction} }`),
    'groups:', '  - { id: press, tier: high, smp: 2, xftp: 0, members: [ana], continuity: { backupInterval: 10s } }',
    'members:', `  - { id: ana, recipient: ${recipient} }`, '',
  ].join('\n');
}

beforeAll(async () => {
  tf = await TorFleet.start();
  h = tf.h;
  spawnSync('age-keygen', ['-o', memberKey()]);
  recipient = spawnSync('age-keygen', ['-y', memberKey()], { encoding: 'utf8' }).stdout.trim();
  fleet = h.writeFleet(fleetYaml(DEVICES, recipient));
  await tf.addDevices(DEVICES.map((d) => d.id));
  const applied = await h.apply(fleet, '--wait', '--timeout', '420');
  if (applied.code !== 0) throw new Error(`apply failed: ${applied.stderr}${applied.stdout}`);
  await until('a backup of each instance', async () => ((await backupRows(() => cli('backup', 'list', '--json'))).filter((b) => b.ok).length >= 2 ? true : null), 180_000);
}, 600_000);

afterAll(async () => {
  await tf.stop();
}, 120_000);

describe('member continuity over onions', () => {
  it('a drain keeps the address: same onion and fingerprint through Tor from another Pi, same bundle, the queues written before', async () => {
    const instance = 'press-smp-01';
    const from = holderOf(h, instance) ?? '';
    const before = addressOn(h, from, instance);
    await untilAnswersThroughTor(h, before, 300_000);
    expect(await queueOverTor(h, before.onion, ['DOUBLE NEW qtor1', 'DOUBLE NEW qtor2'])).toEqual(['OK', 'OK']);
    const bundleBefore = await bundleServers('bundle-before');
    expect(bundleBefore).toHaveLength(2);

    drainedDevice = from;
    const drained = await cli('device', 'drain', from, '-f', fleet, '--timeout', '540');
    expect(drained.code, drained.stderr + drained.stdout).toBe(0);
    expect(drained.stdout).toMatch(/kept/);
    const to = holderOf(h, instance) ?? '';
    expect(to).not.toBe(from);
    expect(to).not.toBe('');
    expect(addressOn(h, to, instance)).toEqual(before);

    await untilAnswersThroughTor(h, before, 300_000);
    expect(await queueOverTor(h, before.onion, ['DOUBLE GET qtor1', 'DOUBLE GET qtor2'])).toEqual(['YES', 'YES']);
    expect(await bundleServers('bundle-after')).toEqual(bundleBefore);
  }, 900_000);

  it('device lost: every instance of a SIGKILLed Pi answers at its address from other Pis; the command reports the backup age', async () => {
    // The other operator's Pi (losing the drained instance's new Pi would leave the high tier one operator).
    const victim = holderOf(h, 'press-smp-02') ?? '';
    const held = runningDesired(h, victim).instances.map((i) => i.id);
    const addresses = held.map((i) => addressOn(h, victim, i));
    expect(await queueOverTor(h, addressOn(h, victim, 'press-smp-02').onion, ['DOUBLE NEW qlost1'])).toEqual(['OK']);
    const written = Date.now();
    await until('a store-log backup taken after the queue was written', async () => ((await backupRows(() => cli('backup', 'list', '--json')))
      .some((b) => b.ok && b.instance === 'press-smp-02' && b.reason === 'store-log' && (b.ageSeconds ?? 1e9) * 1000 <= Date.now() - written) ? true : null), 180_000);
    await killDevice(h, victim, tf.tor(victim).pid);
    lostDevice = victim;
    const lost = await cli('device', 'lost', victim, '-f', fleet, '--wait', '--timeout', '420', '--json');
    expect(lost.code, lost.stderr + lost.stdout).toBe(0);
    const report = JSON.parse(lost.stdout) as { instances: { instance: string; keepsAddress: boolean; backupAgeSeconds: number | null }[] };
    expect(report.instances.map((i) => i.instance).sort()).toEqual([...held].sort());
    for (const i of report.instances) {
      expect(i.keepsAddress).toBe(true);
      expect(i.backupAgeSeconds).toEqual(expect.any(Number));
    }
    for (const [k, a] of addresses.entries()) {
      const now = holderOf(h, held[k] ?? '', victim) ?? '';
      expect(now).not.toBe('');
      expect(addressOn(h, now, held[k] ?? '')).toEqual(a);
      await untilAnswersThroughTor(h, a, 300_000);
    }
    expect(await queueOverTor(h, addressOn(h, holderOf(h, 'press-smp-02', victim) ?? '', 'press-smp-02').onion, ['DOUBLE GET qlost1'])).toEqual(['YES']);
  }, 900_000);

  it('rotate: the new address answers through Tor, the old one keeps answering as retiring until its date, then stops', async () => {
    const instance = 'press-smp-01';
    const device = holderOf(h, instance, lostDevice) ?? '';
    const before = addressOn(h, device, instance);
    const run = await cli('rotate', instance, '-f', fleet, '--retire-after', '2m', '--wait', '--timeout', '420', '--json');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const { retiresAt } = JSON.parse(run.stdout) as { retiresAt: string };
    const after = addressOn(h, device, instance);
    expect(after.onion).not.toBe(before.onion);
    expect(after.fingerprint).not.toBe(before.fingerprint);
    expect(after.password).not.toBe(before.password);
    // Until its date the old address is served (as <id>-retiring, by the same tor) beside the new one.
    await until('the old address to answer through Tor as retiring', async () => ((await answersThroughTor(before)) ? true : null), Date.parse(retiresAt) - Date.now());
    await untilAnswersThroughTor(h, after, 300_000);
    const text = await bundleText('bundle-rotated');
    expect(text).toContain(`@${after.onion}`);
    expect(retireLines(text).some((l) => l.includes(`@${before.onion}`))).toBe(true);
    // After the date the agent stops and archives it by itself; its onion no longer answers.
    await until('the retiring copy to be archived after its date', () => (Date.now() > Date.parse(retiresAt)
      && !existsSync(join(h.devices.get(device)?.root ?? '', 'etc/opt/simplex', `${instance}-retiring`)) ? true : null), 300_000);
    await until('the old address to stop answering through Tor', async () => ((await answersThroughTor(before)) ? null : true), 300_000);
    // The new address still answers (one probe through Tor may fail by chance: asked until a deadline).
    await untilAnswersThroughTor(h, after, 300_000);
  }, 900_000);

  it('revoke: the revoked Pi\'s instances answer at new addresses through Tor from other Pis; the bundle lists the old ones to retire at once', async () => {
    // Drained and lost, two Pis are left, one per operator: a fifth Pi of the revoked one's operator
    // joins first (the high tier needs both operators).
    const revoked = holderOf(h, 'press-smp-01', lostDevice) ?? '';
    const operator = DEVICES.find((d) => d.id === revoked)?.operator ?? '';
    expect([lostDevice, drainedDevice]).not.toContain(revoked);
    fleet = h.writeFleet(fleetYaml([...DEVICES, { id: 'pi-5', operator, location: 'potsdam', jurisdiction: 'DE' }], recipient));
    await tf.addDevices(['pi-5']);
    const joined = await h.apply(fleet, '--wait', '--timeout', '420');
    expect(joined.code, joined.stderr + joined.stdout).toBe(0);
    const held = runningDesired(h, revoked).instances.map((i) => i.id);
    const before = held.map((i) => addressOn(h, revoked, i));
    const run = await cli('device', 'revoke', revoked, '-f', fleet, '--wait', '--timeout', '420');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const text = await bundleText('bundle-revoked');
    for (const [k, instance] of held.entries()) {
      const now = [...h.devices.keys()].find((id) => id !== revoked && id !== lostDevice && runningDesired(h, id).instances.some((i) => i.id === instance)) ?? '';
      expect(now).not.toBe('');
      const after = addressOn(h, now, instance);
      const old = before[k] as Address;
      // A compromise: nothing of the old identity travels.
      expect(after.onion).not.toBe(old.onion);
      expect(after.fingerprint).not.toBe(old.fingerprint);
      expect(after.password).not.toBe(old.password);
      await untilAnswersThroughTor(h, after, 300_000);
      expect(text).toContain(`@${after.onion}`);
      expect(retireLines(text).some((l) => l.includes(`@${old.onion}`))).toBe(true);
    }
  }, 900_000);

  it('leaves no identity material in any log of the run', async () => {
    const logs = await h.allLogs();
    for (const id of h.devices.keys()) {
      for (const i of runningDesired(h, id).instances) {
        const a = addressOn(h, id, i.id);
        expect(logs).not.toContain(a.onion.slice(0, 56));
        expect(logs).not.toContain(a.password);
      }
    }
  });
});
