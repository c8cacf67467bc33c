/** The built-in supervisor with a real process: start, adopt across instances, SIGINT stop, restart after a crash. */
import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Supervisor } from '../../agent/services/supervisor.ts';
import type { ServiceSpec } from '../../agent/services/service-manager.ts';
import { alive, freePort, stopSupervised, until } from '../support/processes.ts';

const roots: string[] = [];
afterEach(async () => {
  for (const root of roots.splice(0)) await stopSupervised(root);
});

/** A tiny service: listens on `port` (ready), exits 0 on SIGINT (saying so on stderr), runs until then. */
function spec(root: string, port: number): ServiceSpec {
  const script = `require('node:net').createServer().listen(${port}, '127.0.0.1'); process.on('SIGINT', () => { console.error('got SIGINT'); process.exit(0); });`;
  return { name: 'demo.service', command: process.execPath, args: ['-e', script], env: {}, logFile: join(root, 'log/demo.log'), readyPort: port };
}

async function pidOf(root: string): Promise<number> {
  return (JSON.parse(await readFile(join(root, 'run/onionfleet/demo.service.pid'), 'utf8')) as { pid: number }).pid;
}

describe('Supervisor', () => {
  it('starts a service detached, finds it again from a new supervisor, and stops it with SIGINT', async () => {
    const root = mkdtempSync(join(tmpdir(), 'onionfleet-sup-'));
    roots.push(root);
    const first = new Supervisor(join(root, 'run/onionfleet'));
    await first.start(spec(root, await freePort()));
    const pid = await pidOf(root);
    expect(alive(pid)).toBe(true);
    const second = new Supervisor(join(root, 'run/onionfleet'));
    expect(await second.state('demo.service')).toBe('active');
    await second.start(spec(root, await freePort())); // already running: left alone
    expect(await pidOf(root)).toBe(pid);
    await second.stop('demo.service');
    expect(alive(pid)).toBe(false);
    expect(await readFile(join(root, 'log/demo.log'), 'utf8')).toContain('got SIGINT');
    expect(await second.state('demo.service')).toBe('inactive');
  });

  it('fails a start whose process exits before it is ready, with the log tail', async () => {
    const root = mkdtempSync(join(tmpdir(), 'onionfleet-sup-'));
    const sup = new Supervisor(join(root, 'run/onionfleet'));
    const bad = { ...spec(root, await freePort()), args: ['-e', "console.error('bad config'); process.exit(3)"] };
    await expect(sup.start(bad)).rejects.toThrow(/demo\.service exited with code 3 while starting: bad config/);
    expect(await sup.state('demo.service')).toBe('inactive');
  });

  it('restarts a crashed service while watching', async () => {
    const root = mkdtempSync(join(tmpdir(), 'onionfleet-sup-'));
    roots.push(root);
    const sup = new Supervisor(join(root, 'run/onionfleet'));
    await sup.start(spec(root, await freePort()));
    const crashed = await pidOf(root);
    const abort = new AbortController();
    const restarts: string[] = [];
    const watching = sup.watch(abort.signal, (name) => restarts.push(name));
    process.kill(crashed, 'SIGKILL');
    const next = await until('a new pid', async () => {
      const pid = await pidOf(root).catch(() => crashed);
      return pid !== crashed && alive(pid) ? pid : null;
    });
    abort.abort();
    await watching;
    expect(next).not.toBe(crashed);
    expect(restarts).toEqual(['demo.service']);
  });
});
