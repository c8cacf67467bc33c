/**
 * `onionfleet demo --tor` as a user runs it, a real process: a private Tor network on loopback,
 * `serve --tor` (NATS behind an onion with per-device client authorization), four simulated Pis each
 * with its own tor, convergence over onions, `probe` through the controller's tor. It ends with exit
 * 0 inside the 6-minute budget, every instance healthy and probed ok, a published onion for every
 * instance, no onion address in the logs of onionfleet's own processes, and nothing left running —
 * tor included. Ctrl-C while the Tor network is still coming up stops its tors too and exits 130.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN } from '../support/cli.ts';
import { alive, stopPid, until } from '../support/processes.ts';

const DEVICES = ['pi-1', 'pi-2', 'pi-3', 'pi-4'];
const NETWORK_NODES = ['auth1', 'auth2', 'auth3', 'relay1', 'relay2', 'relay3'];
const ONION = /^[a-z2-7]{56}\.onion$/;
const BUDGET_S = 360;

interface Recorded { name: string; role: string; pid: number }
interface Demo { child: ChildProcess; stdout: string; stderr: string; exited: Promise<number | null> }

const newDir = () => join(mkdtempSync(join(tmpdir(), 'onionfleet-demo-tor-test-')), 'demo');
const ls = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
const recorded = (dir: string) => (JSON.parse(readFileSync(join(dir, 'demo.json'), 'utf8')) as { processes: Recorded[] }).processes;

let demo: Demo | null = null;

/** `onionfleet demo <args>` as a child process (stopped after the test should it still run). */
function startDemo(args: readonly string[]): Demo {
  const child = spawn(process.execPath, [BIN.onionfleet, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const d: Demo = { child, stdout: '', stderr: '', exited: new Promise((resolve) => child.once('close', (code) => { resolve(code); })) };
  child.stdout.on('data', (b: Buffer) => (d.stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (d.stderr += b.toString()));
  demo = d;
  return d;
}

afterEach(async () => {
  if (demo?.child.pid !== undefined && demo.child.exitCode === null) {
    await stopPid(demo.child.pid, 'SIGINT', 60_000);
    await demo.exited;
  }
  demo = null;
}, 90_000);

/** Every pid the demo recorded and every pid file of the agents' supervisors. */
function startedPids(dir: string): number[] {
  const supervised = DEVICES.flatMap((id) => {
    const run = join(dir, 'devices', id, 'root/run/onionfleet');
    return ls(run).filter((f) => f.endsWith('.pid')).map((f) => (JSON.parse(readFileSync(join(run, f), 'utf8')) as { pid: number }).pid);
  });
  return [...new Set([...recorded(dir).map((p) => p.pid), ...supervised])];
}

/** Running processes (not zombies) whose command line names a path in `dir`: whatever the demo left. */
function processesIn(dir: string): string[] {
  const left: string[] = [];
  for (const entry of ls('/proc')) {
    if (!/^\d+$/.test(entry) || !alive(Number(entry))) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(dir)) left.push(`${entry}: ${cmdline}`);
    } catch {
      // exited meanwhile
    }
  }
  return left;
}

describe('onionfleet demo --tor', () => {
  it('runs the whole story over onions within the budget, probes every instance ok, and stops every tor', async () => {
    const dir = newDir();
    const started = Date.now();
    const d = startDemo(['--tor', '--dir', dir, '--json']);
    const code = await d.exited;
    const seconds = (Date.now() - started) / 1000;
    console.log(`onionfleet demo --tor took ${seconds.toFixed(1)} s (its own count: ${(JSON.parse(d.stdout || '{}') as { seconds?: number }).seconds ?? '?'} s)`);
    expect(code, d.stderr).toBe(0);
    expect(seconds).toBeLessThan(BUDGET_S);
    expect(d.stderr).toMatch(/the private Tor network serves onions/);
    expect(d.stderr).toMatch(/every Pi's tor bootstrapped/);
    expect(d.stderr).toMatch(/converged 4\/4 devices/);
    expect(d.stderr).toMatch(/\[9\/10\] .*onionfleet probe/);
    expect(d.stderr).toMatch(/→ newsroom: ok/);
    expect(d.stderr).toMatch(/→ family: ok/);

    const summary = JSON.parse(d.stdout) as { devices: number; instances: number; healthy: number; bundles: string[]; tor?: boolean; probe?: string };
    expect(summary).toMatchObject({ devices: 4, tor: true, probe: 'ok' });
    expect(summary.instances).toBeGreaterThan(0);
    expect(summary.healthy).toBe(summary.instances);
    expect(summary.bundles).toHaveLength(3);

    // The agents reached NATS only at its onion, through their own tor.
    const natsOnion = readFileSync(join(dir, 'controller/tor/nats-onion/hostname'), 'utf8').trim();
    expect(natsOnion).toMatch(ONION);
    for (const id of DEVICES) {
      const config = JSON.parse(readFileSync(join(dir, 'devices', id, 'agent.json'), 'utf8')) as { nats: { url: string; socks?: string }; tor?: { socks: string; pidFile: string; selfProbe: boolean } };
      expect(config.nats.url).toBe(`nats://${natsOnion}:4222`);
      expect(config.nats.socks).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(config.tor).toEqual({ socks: config.nats.socks, pidFile: join(dir, 'devices', id, 'tor.pid'), selfProbe: true });
      expect(readFileSync(join(dir, 'logs', `agent-${id}.log`), 'utf8')).toMatch(/converged on revision 1/);
    }

    // Every instance has its published onion (the Pi's tor wrote the hostname), one per instance.
    const hostnames: string[] = [];
    for (const id of DEVICES) {
      const root = join(dir, 'devices', id, 'root');
      const instances = ['etc/opt/simplex', 'etc/opt/simplex-xftp'].flatMap((p) => ls(join(root, p)).filter((i) => existsSync(join(root, p, i, 'fingerprint'))));
      for (const instance of instances) {
        const hostname = join(root, 'var/lib/tor/onionfleet', instance, 'hostname');
        expect(existsSync(hostname), `${id}/${instance} has an onion hostname`).toBe(true);
        hostnames.push(readFileSync(hostname, 'utf8').trim());
      }
    }
    expect(hostnames).toHaveLength(summary.instances);
    for (const h of hostnames) expect(h).toMatch(ONION);

    // The tors' directories and logs where the layout says.
    for (const n of NETWORK_NODES) expect(existsSync(join(dir, 'tor', n, 'torrc')), n).toBe(true);
    for (const id of DEVICES) expect(existsSync(join(dir, 'devices', id, 'tor', 'torrc')), `${id}'s tor`).toBe(true);
    expect(ls(join(dir, 'logs/tor')).sort()).toEqual([...NETWORK_NODES, 'controller', ...DEVICES].map((n) => `${n}.log`).sort());
    for (const f of ls(join(dir, 'logs/tor'))) expect(statSync(join(dir, 'logs/tor', f)).size, `logs/tor/${f}`).toBeGreaterThan(0);

    // No onion address of the run in the logs of onionfleet's own processes (tor's own logs/tor/ aside).
    const ownLogs = ls(join(dir, 'logs')).filter((f) => f.endsWith('.log')).map((f) => readFileSync(join(dir, 'logs', f), 'utf8')).join('\n');
    expect(ownLogs).toMatch(/onionfleet probe|probe --state/);
    for (const h of [natsOnion, ...hostnames]) expect(ownLogs).not.toContain(h.replace(/\.onion$/, ''));
    expect(ownLogs).not.toMatch(/AGE-SECRET-KEY-1/);

    // Nothing left running: every recorded pid (every tor included), every supervised server.
    const record = recorded(dir);
    expect(record.filter((p) => p.role === 'tor').map((p) => p.name).sort()).toEqual([...NETWORK_NODES, ...DEVICES].map((n) => `tor-${n}`).sort());
    expect(record.filter((p) => p.role === 'controller-tor')).toHaveLength(1);
    const pids = startedPids(dir);
    expect(pids.length).toBeGreaterThanOrEqual(NETWORK_NODES.length + DEVICES.length + 1 + 2 + DEVICES.length + summary.instances);
    expect(pids.filter(alive)).toEqual([]);
    expect(processesIn(dir)).toEqual([]);
  }, 480_000);

  it('stops the tors of a network still coming up on Ctrl-C, and exits 130', async () => {
    const dir = newDir();
    const d = startDemo(['--tor', '--dir', dir]);
    // The network's tors run, but the network has not handed them over yet.
    await until('the private Tor network to start its tors', () => {
      if (d.child.exitCode !== null) throw new Error(`demo exited early: ${d.stderr}`);
      return /tor network: 6 tors started/.test(d.stderr) ? true : null;
    }, 180_000);
    expect(d.stderr).not.toMatch(/serves onions/);
    d.child.kill('SIGINT');
    const started = Date.now();
    expect(await d.exited).toBe(130);
    console.log(`demo --tor stopped ${((Date.now() - started) / 1000).toFixed(1)} s after SIGINT`);
    expect(d.stderr).toMatch(/SIGINT: stopping everything the demo started/);
    expect(d.stderr).toMatch(/stopped \d+ processes; everything the demo wrote stays in/);
    const starting = recorded(dir).filter((p) => p.role === 'tor');
    expect(starting.length).toBeGreaterThanOrEqual(NETWORK_NODES.length);
    expect(starting.map((p) => p.pid).filter(alive)).toEqual([]);
    expect(processesIn(dir)).toEqual([]);
  }, 240_000);
});
