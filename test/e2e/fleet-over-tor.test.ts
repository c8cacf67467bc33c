/**
 * The whole fleet over real onions, on a private Tor network on loopback: 6 simulated Pis of 3
 * operators, each with its own tor (which serves the agent's onions and carries the agent to the
 * controller's NATS onion with its own client-authorization key); the controller's `serve --tor`.
 * apply → the agents converge over onions → every instance is probed through the controller's tor →
 * bundles are exported → one device is revoked → its instances are re-placed, the new addresses are
 * probed, and the revoked device cannot reach NATS any more.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsOnion } from '../../controller/state/nats-onion.ts';
import { clientAuthPrivateLine } from '#shared/crypto/onion.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { connectNats, NatsAuthFailedError, NatsUnreachableError } from '#shared/nats/connect.ts';
import { dialSocks, TunnelError } from '#shared/tor/socks-tunnel.ts';
import { BIN, runBin, type CliRun } from '../support/cli.ts';
import type { FleetHarness } from '../support/fleet-harness.ts';
import { until } from '../support/processes.ts';
import { TorFleet } from '../support/tor-fleet.ts';

const DEVICES = [
  { id: 'pi-1', operator: 'alice', location: 'berlin', jurisdiction: 'DE' },
  { id: 'pi-2', operator: 'alice', location: 'hamburg', jurisdiction: 'DE' },
  { id: 'pi-3', operator: 'bob', location: 'amsterdam', jurisdiction: 'NL' },
  { id: 'pi-4', operator: 'bob', location: 'utrecht', jurisdiction: 'NL' },
  { id: 'pi-5', operator: 'carol', location: 'vienna', jurisdiction: 'AT' },
  { id: 'pi-6', operator: 'carol', location: 'graz', jurisdiction: 'AT' },
] as const;

let tf: TorFleet;
let h: FleetHarness;
let fleet: string;
let natsOnion: NatsOnion;
const memberKey = () => join(h.dir, 'ana.key');

interface ProbeReport { verdict: string; groups: { group: string; instances: { instance: string; device: string; verdict: string; reachable: boolean; identityOk: boolean | null }[] }[] }
interface Placement { group: string; instance: string; device: string }

const cli = (...args: string[]): Promise<CliRun> => runBin(BIN.onionfleet, [...args, '--state', h.state]);

function fleetYaml(recipient: string): string {
  return [
    'version: 1',
    'fleet: e2e',
    'operators:',
    ...['alice', 'bob', 'carol'].map((o) => `  - id: ${o}`),
    'devices:',
    ...DEVICES.map((d) => `  - { id: ${d.id}, operator: ${d.operator}, location: ${d.location}, jurisdiction: ${d.jurisdiction} }`),
    'groups:',
    '  - { id: press, tier: high, smp: 4, xftp: 1, members: [ana] }',
    '  - { id: family, tier: standard, smp: 3, xftp: 1, members: [ana] }',
    'members:',
    `  - { id: ana, recipient: ${recipient} }`,
    '',
  ].join('\n');
}

/** Probes through the controller's tor until every instance is reachable with its identity, or the deadline. */
async function probeUntilAllOk(what: string): Promise<ProbeReport> {
  let last = '';
  try {
    return await until(what, async () => {
      const run = await cli('probe', '--json', '--timeout', '60');
      last = run.stdout || run.stderr;
      const report = run.stdout ? (JSON.parse(run.stdout) as ProbeReport) : null;
      return run.code === 0 && report?.verdict === 'ok' ? report : null;
    }, 300_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last probe: ${last.slice(0, 2000)}`);
  }
}

async function deployedPlacements(): Promise<Placement[]> {
  const run = await cli('plan', '-f', fleet, '--deployed', '--json');
  expect(run.code, run.stderr).toBe(0);
  return (JSON.parse(run.stdout) as { placements: Placement[] }).placements;
}

beforeAll(async () => {
  tf = await TorFleet.start();
  h = tf.h;
  natsOnion = tf.natsOnion;
  spawnSync('age-keygen', ['-o', memberKey()]);
  fleet = h.writeFleet(fleetYaml(spawnSync('age-keygen', ['-y', memberKey()], { encoding: 'utf8' }).stdout.trim()));
  await tf.addDevices(DEVICES.map((d) => d.id));
}, 420_000);

afterAll(async () => {
  await tf.stop();
}, 120_000);

describe('a fleet over onions', () => {
  it('converges over the NATS onion: every agent reaches it only through its own tor', async () => {
    const applied = await h.apply(fleet, '--wait', '--timeout', '420');
    expect(applied.code, applied.stderr + applied.stdout).toBe(0);
    expect(applied.stderr).toMatch(/converged 6\/6 devices/);
    for (const d of DEVICES) {
      const config = JSON.parse(readFileSync(h.devices.get(d.id)!.config, 'utf8')) as { nats: { url: string } };
      expect(config.nats.url).toMatch(/^nats:\/\/[a-z2-7]{56}\.onion:4222$/);
    }
  }, 480_000);

  it('probes every instance through the controller\'s tor: reachable, with the pinned identity', async () => {
    const report = await probeUntilAllOk('every instance to answer through Tor with its identity');
    const instances = report.groups.flatMap((g) => g.instances);
    expect(instances).toHaveLength(9); // press 4 + 1, family 3 + 1
    expect(instances.every((i) => i.reachable && i.identityOk === true)).toBe(true);
    expect(report.groups.map((g) => g.group).sort()).toEqual(['family', 'press']);
  }, 330_000);

  it('the agents probe their own onions through their own tor and report it', async () => {
    const status = await until('every device to report its onion self-probe', async () => {
      const s = JSON.parse((await h.status()).stdout) as { devices: { device: string; onionProbe?: { ok: number; probed: number } | null }[] };
      return s.devices.every((d) => d.onionProbe != null && d.onionProbe.probed > 0 && d.onionProbe.ok === d.onionProbe.probed) ? s : null;
    }, 180_000);
    expect(status.devices).toHaveLength(6);
  }, 200_000);

  it("opens a device's SSH onion with the admin's key, which a tor without it cannot", async () => {
    const placements = await deployedPlacements();
    const device = placements.find((p) => p.group === 'press')!.device;
    const sshOnion = readFileSync(join(h.devices.get(device)!.root, 'var/lib/tor/onionfleet/ssh/hostname'), 'utf8').trim();
    const keyFile = join(h.state, 'tor/client-auth', `device-${device}-ssh.auth_private`);
    await until('serve to give its tor the key to the SSH onion', () => (existsSync(keyFile) ? true : null), 120_000);
    const controllerSocks = { host: '127.0.0.1', port: (JSON.parse(readFileSync(join(h.state, 'tor/runtime.json'), 'utf8')) as { socksPort: number }).socksPort };
    const outcome = async (socks: { host: string; port: number }) => until('an answer other than "descriptor not found"', async () => {
      try {
        (await dialSocks(socks, { host: sshOnion, port: 22 }, 60_000)).destroy();
        return 'connected';
      } catch (err) {
        if (!(err instanceof TunnelError)) throw err;
        return err.reason === 'descriptor-not-found' ? null : err.reason;
      }
    }, 180_000);
    // With the key the rendezvous completes: sshd answers, or (no sshd on this machine's port 22) the Pi refuses.
    expect(['connected', 'connection-refused', 'general-failure']).toContain(await outcome(controllerSocks));
    const stranger = await tf.net.startTor({ name: 'stranger', dir: join(h.dir, 'stranger-tor'), socks: true, lines: [] });
    expect(await outcome({ host: '127.0.0.1', port: stranger.socksPort ?? 0 })).toBe('client-auth-missing');
  }, 400_000);

  it('exports the member\'s bundles, which the age CLI opens', async () => {
    const out = join(h.dir, 'bundles');
    const run = await cli('bundle', 'export', '--group', 'press', '--out', out, '-f', fleet);
    expect(run.code, run.stderr).toBe(0);
    const text = spawnSync('age', ['-d', '-i', memberKey(), join(out, 'ana.age')], { encoding: 'utf8' }).stdout;
    expect(text, 'the decrypted bundle').toContain('SMP servers');
    expect(text.match(/^smp:\/\/\S+@[a-z2-7]{56}\.onion$/gm)).toHaveLength(4);
    expect(text.match(/^xftp:\/\/\S+@[a-z2-7]{56}\.onion$/gm)).toHaveLength(1);
  }, 60_000);

  it('revokes a device: cut off from NATS, its instances re-placed and reachable at their new onions', async () => {
    const before = await deployedPlacements();
    const victim = before.find((p) => p.group === 'press')!.device;
    const victimTor = tf.tor(victim);
    const seed = readFileSync(join(h.devices.get(victim)!.root, 'etc/onionfleet/keys/nats.nk'), 'utf8').trim();
    const onionKey = readFileSync(join(h.devices.get(victim)!.root, 'etc/onionfleet/keys/onion-client.key'), 'utf8').trim();

    const revoked = await cli('device', 'revoke', victim, '-f', fleet, '--wait', '--timeout', '420', '--json');
    expect(revoked.code, revoked.stderr + revoked.stdout).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ revoked: victim, natsReloaded: true, torReloaded: true, converged: true });

    const after = await deployedPlacements();
    expect(after.filter((p) => p.device === victim)).toEqual([]);
    const moved = before.filter((p) => p.device === victim).map((p) => p.instance);
    expect(moved.length).toBeGreaterThan(0);
    for (const id of moved) expect(after.find((p) => p.instance === id)?.device).not.toBe(victim);

    const report = await probeUntilAllOk('the re-placed instances to answer at their new onions');
    const probed = report.groups.flatMap((g) => g.instances);
    for (const id of moved) expect(probed.find((i) => i.instance === id)).toMatchObject({ reachable: true, identityOk: true });
    expect(probed.some((i) => i.device === victim)).toBe(false);

    // Through its own tor, the revoked device's NATS user is refused (or never gets through at all).
    const socks = { host: '127.0.0.1', port: victimTor.socksPort ?? 0 };
    const attempt = await (async () => {
      try {
        const socket = await dialSocks(socks, { host: natsOnion.hostname, port: 4222 }, 60_000);
        socket.destroy();
      } catch (err) {
        return err;
      }
      const { SocksTunnel } = await import('#shared/tor/socks-tunnel.ts');
      const tunnel = await SocksTunnel.open({ socks, target: { host: natsOnion.hostname, port: 4222 } });
      try {
        await connectNats({ servers: `nats://127.0.0.1:${tunnel.port}`, nkeySeed: seed, name: victim, timeoutMs: 60_000, reconnect: false });
        return null;
      } catch (err) {
        return err;
      } finally {
        await tunnel.close();
      }
    })();
    expect(attempt instanceof NatsAuthFailedError || attempt instanceof NatsUnreachableError || attempt instanceof TunnelError).toBe(true);

    // A fresh tor holding only the revoked key cannot even fetch the NATS onion's descriptor.
    const authDir = join(h.dir, 'revoked-client-auth');
    mkdirSync(authDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(authDir, 'controller.auth_private'), `${clientAuthPrivateLine(natsOnion.hostname.replace(/\.onion$/, ''), onionKey)}\n`, { mode: 0o600 });
    const fresh = await tf.net.startTor({ name: 'revoked-fresh', dir: join(h.dir, 'revoked-tor'), socks: true, lines: [`ClientOnionAuthDir ${authDir}`] });
    const refusal = await until('the revoked key to be refused', async () => {
      try {
        (await dialSocks({ host: '127.0.0.1', port: fresh.socksPort ?? 0 }, { host: natsOnion.hostname, port: 4222 }, 60_000)).destroy();
        return 'connected';
      } catch (err) {
        return err instanceof TunnelError && err.reason === 'descriptor-not-found' ? null : err;
      }
    }, 180_000);
    expect(refusal).toBeInstanceOf(TunnelError);
    expect((refusal as TunnelError).reason).toMatch(/^client-auth-(missing|wrong)$/);
  }, 600_000);

  it('a device whose tor crashes comes back as under systemd: its agent reaches the controller again, its onions answer', async () => {
    // Tor 0.4.9 can crash on an introduction for an onion service a reload just removed (test/support/tor-fleet.ts);
    // on a Pi systemd starts tor@default again (Restart=on-failure), as the harness does here.
    const device = (await deployedPlacements())[0]?.device ?? '';
    const crashed = tf.tor(device);
    const crashedAt = Date.now();
    process.kill(crashed.pid, 'SIGSEGV');
    await until('the device\'s tor to be started again', () => (tf.tor(device) !== crashed ? true : null), 120_000);
    expect(tf.tor(device).socksPort).toBe(crashed.socksPort);
    // A status observed after the crash came through the new tor (the agent reaches NATS only through it).
    await until('a status from the device through its new tor', async () => {
      const run = await h.status();
      const row = (JSON.parse(run.stdout || '{"devices":[]}') as { devices: { device: string; heartbeatAgeSeconds: number | null }[] }).devices.find((d) => d.device === device);
      return row?.heartbeatAgeSeconds != null && row.heartbeatAgeSeconds * 1000 < Date.now() - crashedAt - 2000 ? true : null;
    }, 300_000);
    await probeUntilAllOk('every instance to answer through Tor after the crash');
  }, 600_000);

  it('leaves no secret in any log of the run', async () => {
    const logs = await h.allLogs();
    expect(logs).not.toContain(natsOnion.hostname.slice(0, 56));
    for (const d of DEVICES) {
      const root = h.devices.get(d.id)!.root;
      const onionDirs = join(root, 'var/lib/tor/onionfleet');
      for (const name of readdirSync(onionDirs)) {
        const host = readFileSync(join(onionDirs, name, 'hostname'), 'utf8').trim();
        expect(logs).not.toContain(host.slice(0, 56));
      }
      const desired = (() => { try { return JSON.parse(readFileSync(join(root, 'var/lib/onionfleet/desired.json'), 'utf8')) as { instances: { password: string }[] }; } catch { return { instances: [] }; } })();
      for (const i of desired.instances) expect(logs).not.toContain(i.password);
    }
  });
});
