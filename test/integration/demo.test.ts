/**
 * `onionfleet demo` as a user runs it, a real process: the whole story (nats-server, four agent
 * processes with the SimpleX doubles, apply, status, bundles) ends with exit 0, the JSON summary,
 * the fixed directory layout, bundles the Debian `age` CLI decrypts with the members' keys, no
 * secret in the logs, and no process left running. Ctrl-C while it waits for convergence stops
 * exactly what it started and exits 130. Bad directories exit 2 before anything starts. (`--tor`:
 * test/e2e/demo-tor.test.ts.)
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, onionfleet, runBin } from '../support/cli.ts';
import { alive, stopPid, until } from '../support/processes.ts';

const DEVICES = ['pi-1', 'pi-2', 'pi-3', 'pi-4'];
const MEMBERS = ['ana', 'ben', 'maria'];

const newDir = () => join(mkdtempSync(join(tmpdir(), 'onionfleet-demo-test-')), 'demo');
const mode = (path: string) => statSync(path).mode & 0o777;
const ls = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

/** Every pid the demo recorded (demo.json) and every pid file of the agents' supervisors. */
function startedPids(dir: string): number[] {
  const marker = JSON.parse(readFileSync(join(dir, 'demo.json'), 'utf8')) as { processes: { pid: number }[] };
  const supervised = DEVICES.flatMap((id) => {
    const run = join(dir, 'devices', id, 'root/run/onionfleet');
    return ls(run).filter((f) => f.endsWith('.pid')).map((f) => (JSON.parse(readFileSync(join(run, f), 'utf8')) as { pid: number }).pid);
  });
  return [...new Set([...marker.processes.map((p) => p.pid), ...supervised])];
}

/** Instance directories below a device root that hold `file` (config dirs: fingerprint; onion dirs: hostname). */
function dirsWith(root: string, parents: readonly string[], file: string): string[] {
  return parents.flatMap((p) => ls(join(root, p)).filter((d) => existsSync(join(root, p, d, file))).map((d) => join(root, p, d)));
}

describe('onionfleet demo', () => {
  it('runs the whole story, leaves the layout behind, and stops everything it started', async () => {
    const dir = newDir();
    const started = Date.now();
    const run = await runBin(BIN.onionfleet, ['demo', '--dir', dir, '--json']);
    const seconds = (Date.now() - started) / 1000;
    console.log(`onionfleet demo took ${seconds.toFixed(1)} s (its own count: ${(JSON.parse(run.stdout || '{}') as { seconds?: number }).seconds ?? '?'} s)`);
    expect(run.stderr).toMatch(/TEST DOUBLES/);
    expect(run.stderr).toMatch(/\[7\/9\] applying/);
    expect(run.stderr).toMatch(/converged 4\/4 devices/);
    expect(run.code, run.stderr).toBe(0);
    expect(seconds).toBeLessThan(120);

    const summary = JSON.parse(run.stdout) as { devices: number; instances: number; healthy: number; bundles: string[]; seconds: number };
    expect(Object.keys(summary)).toEqual(['devices', 'instances', 'healthy', 'bundles', 'seconds']);
    expect(summary.devices).toBe(4);
    expect(summary.instances).toBeGreaterThan(0);
    expect(summary.healthy).toBe(summary.instances);
    expect(summary.bundles.sort()).toEqual(MEMBERS.map((m) => join(dir, 'bundles', `${m}.age`)).sort());

    // The layout.
    expect(readFileSync(join(dir, 'fleet.yaml'), 'utf8')).toMatch(/tier: high/);
    const validate = await onionfleet('plan', '-f', join(dir, 'fleet.yaml'));
    expect(validate.code).toBe(0);
    let instanceDirs = 0;
    const hostnames: string[] = [];
    for (const id of DEVICES) {
      const root = join(dir, 'devices', id, 'root');
      const configs = dirsWith(root, ['etc/opt/simplex', 'etc/opt/simplex-xftp'], 'fingerprint');
      expect(configs.length, `${id} has instance dirs`).toBeGreaterThan(0);
      for (const c of configs) expect(existsSync(join(c, 'ca.crt'))).toBe(true);
      instanceDirs += configs.length;
      const onions = dirsWith(root, ['var/lib/tor/onionfleet'], 'hostname');
      for (const o of onions) hostnames.push(readFileSync(join(o, 'hostname'), 'utf8').trim());
      expect(onions.map((o) => o.split('/').pop()).filter((n) => n !== 'ssh').sort()).toEqual(configs.map((c) => c.split('/').pop()).sort());
    }
    expect(instanceDirs).toBe(summary.instances);
    for (const m of MEMBERS) {
      const key = join(dir, 'members', `${m}.key`);
      expect(mode(key)).toBe(0o600);
      const age = spawnSync('age', ['-d', '-i', key, join(dir, 'bundles', `${m}.age`)], { encoding: 'utf8' });
      expect(age.status, age.stderr).toBe(0);
      expect(age.stdout).toMatch(/ONIONFLEET SERVER BUNDLE - group (newsroom|family)/);
      expect(age.stdout).toMatch(/smp:\/\/\S+@[a-z2-7]{56}\.onion/);
    }
    const logs = ls(join(dir, 'logs'));
    expect(logs).toEqual(expect.arrayContaining(['serve.log', 'apply.log', 'nats-server.log', ...DEVICES.map((id) => `agent-${id}.log`)]));
    expect(readFileSync(join(dir, 'logs', 'agent-pi-1.log'), 'utf8')).toMatch(/converged on revision 1/);
    // Each agent's log: one line per event with its time and level, and a line per step it ran.
    for (const id of DEVICES) {
      const events = readFileSync(join(dir, 'logs', `agent-${id}.log`), 'utf8').split('\n').filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { time?: string; level?: number; device?: string; step?: string; msg?: string });
      expect(events.length).toBeGreaterThan(5);
      for (const e of events) expect([typeof e.time, typeof e.level, e.device]).toEqual(['string', 'number', id]);
      expect(events.filter((e) => e.step === 'initInstance' || e.step === 'startService').length).toBeGreaterThanOrEqual(2);
    }

    // No secret in any log: not the onion addresses (bundle open's output is not logged), not a member's key.
    const allLogs = logs.filter((f) => f.endsWith('.log')).map((f) => readFileSync(join(dir, 'logs', f), 'utf8')).join('\n');
    expect(hostnames.length).toBeGreaterThanOrEqual(summary.instances);
    for (const h of hostnames) expect(allLogs).not.toContain(h.replace(/\.onion$/, ''));
    expect(allLogs).not.toMatch(/AGE-SECRET-KEY-1/);

    // Nothing left running: serve, nats-server, the agents and every server their supervisors started.
    const pids = startedPids(dir);
    expect(pids.length).toBeGreaterThanOrEqual(2 + DEVICES.length + summary.instances);
    expect(pids.filter(alive)).toEqual([]);

    // A second demo into the same directory is refused.
    const again = await onionfleet('demo', '--dir', dir);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/holds a previous demo/);
    expect(again.stderr).toMatch(/hint: .*--dir/);
  }, 180_000);

  it('stops exactly what it started on Ctrl-C while waiting for convergence, and exits 130', async () => {
    const dir = newDir();
    const child = spawn(process.execPath, [BIN.onionfleet, 'demo', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
    const supervised = () => DEVICES.some((id) => ls(join(dir, 'devices', id, 'root/run/onionfleet')).some((f) => f.endsWith('.pid')));
    try {
      // Published, and the agents are starting servers: the demo is waiting for convergence.
      await until('the demo to wait for convergence with a server started', () => {
        if (child.exitCode !== null) throw new Error(`demo exited early: ${stderr}`);
        return /converged 0\/4 devices/.test(stderr) && supervised() ? true : null;
      }, 120_000);
      child.kill('SIGINT');
      expect(await exited).toBe(130);
    } finally {
      if (child.pid !== undefined) await stopPid(child.pid, 'SIGKILL');
    }
    expect(stderr).toMatch(/SIGINT: stopping everything the demo started/);
    expect(stderr).not.toMatch(/\[8\/9\]/);
    expect(stderr).toMatch(/stopped \d+ processes; everything the demo wrote stays in/);
    const pids = startedPids(dir);
    expect(pids.length).toBeGreaterThanOrEqual(2 + DEVICES.length + 1);
    expect(pids.filter(alive)).toEqual([]);
    // Nothing removed: people look inside.
    expect(existsSync(join(dir, 'fleet.yaml'))).toBe(true);
    expect(existsSync(join(dir, 'controller', 'controller.json'))).toBe(true);
  }, 180_000);

  it('refuses a directory that is not empty, before starting anything', async () => {
    const dir = newDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const busy = await onionfleet('demo', '--dir', dir);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toMatch(/is not empty/);
    expect(busy.stderr).toMatch(/hint: pass --dir with a new or empty directory/);
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  });
});
