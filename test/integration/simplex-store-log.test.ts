/**
 * The SMP double's store log (test/doubles/simplex-double-store.mjs): queue records are appended as
 * queues change, read back on start (after a clean stop and after SIGKILL), and the log is compacted.
 * Real double processes on loopback; each test stops exactly the children it started.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { queueCommands } from '../support/queue-client.ts';
import { freePort, stopChild, until } from '../support/processes.ts';
import { startDoubleProcess } from '../support/simplex-server.ts';

const SMP = fileURLToPath(new URL('../doubles/smp-server', import.meta.url));
const HOST = 'ajv3m4uu3oo5gzcqqgq3k7g4zxfk6icrqjgyhplorn6p5ufmwsftrlid.onion';
const children: ChildProcess[] = [];
const temps: string[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) await stopChild(child, 'SIGKILL');
  await Promise.all(temps.splice(0).map((t) => rm(t, { recursive: true, force: true })));
});

async function initDouble(): Promise<{ env: NodeJS.ProcessEnv; log: string; port: number }> {
  const root = await mkdtemp(join(tmpdir(), 'onionfleet-store-log-'));
  temps.push(root);
  const env = { ...process.env, SMP_SERVER_CFG_PATH: join(root, 'cfg'), SMP_SERVER_LOG_PATH: join(root, 'log') };
  const init = spawnSync(SMP, ['init', '-y', '-n', HOST, '--disable-web'], { env, encoding: 'utf8', timeout: 60_000 });
  if (init.status !== 0) throw new Error(`init failed: ${init.stdout}${init.stderr}`);
  const port = await freePort();
  const ini = join(root, 'cfg', 'smp-server.ini');
  await writeFile(ini, (await readFile(ini, 'utf8')).replace(/^port: .*$/m, `port: ${port}`));
  return { env, log: join(root, 'log'), port };
}

async function start(d: { env: NodeJS.ProcessEnv; port: number }): Promise<{ child: ChildProcess; out: () => string }> {
  const started = await startDoubleProcess(SMP, d.env, d.port);
  children.push(started.child);
  return started;
}

describe('the SMP double keeps a store log', () => {
  it('appends queue records and reads them back after a clean stop and after SIGKILL', async () => {
    const d = await initDouble();
    const first = await start(d);
    const target = { host: '127.0.0.1', port: d.port };
    expect(await queueCommands(target, ['DOUBLE NEW q1', 'DOUBLE NEW q2', 'DOUBLE NEW q3', 'DOUBLE DELETE q2', 'DOUBLE COUNT'])).toEqual(['OK', 'OK', 'OK', 'OK', '2']);
    const log = await readFile(join(d.log, 'smp-server-store.log'), 'utf8');
    expect(log.split('\n').filter(Boolean).map((l) => l.split(' ')[0])).toEqual(['NEW', 'NEW', 'NEW', 'DELETE']);
    expect(log).toMatch(/^NEW rid=q1 sid=[A-Za-z0-9_-]+$/m);

    await stopChild(first.child, 'SIGINT');
    await start(d);
    expect(await queueCommands(target, ['DOUBLE GET q1', 'DOUBLE GET q2', 'DOUBLE GET q3', 'DOUBLE COUNT'])).toEqual(['YES', 'NO', 'YES', '2']);
    // Compacted on start: only the live queues, no DELETE.
    expect((await readFile(join(d.log, 'smp-server-store.log'), 'utf8')).split('\n').filter(Boolean)).toHaveLength(2);

    // A record is on disk before it is acknowledged: SIGKILL loses nothing acknowledged.
    expect(await queueCommands(target, ['DOUBLE NEW q4'])).toEqual(['OK']);
    await stopChild(children.at(-1), 'SIGKILL');
    const third = await start(d);
    expect(await queueCommands(target, ['DOUBLE GET q4', 'DOUBLE COUNT'])).toEqual(['YES', '3']);
    await until('the start line', () => (/Store log: .*smp-server-store\.log/.test(third.out()) ? true : null));
  });

  it('skips a line it cannot read and keeps the rest; without a store log queues do not survive', async () => {
    const d = await initDouble();
    await writeFile(join(d.log, 'smp-server-store.log'), 'NEW rid=a1 sid=s1\nGARBAGE line\nNEW rid=a2 sid=s2\n', { mode: 0o600 });
    const first = await start(d);
    const target = { host: '127.0.0.1', port: d.port };
    expect(await queueCommands(target, ['DOUBLE GET a1', 'DOUBLE GET a2', 'DOUBLE COUNT'])).toEqual(['YES', 'YES', '2']);
    await stopChild(first.child, 'SIGINT');

    const ini = join(String(d.env.SMP_SERVER_CFG_PATH), 'smp-server.ini');
    await writeFile(ini, (await readFile(ini, 'utf8')).replace(/^enable: on$/m, 'enable: off'));
    const second = await start(d);
    expect(await queueCommands(target, ['DOUBLE COUNT', 'DOUBLE NEW m1', 'DOUBLE COUNT'])).toEqual(['0', 'OK', '1']);
    await stopChild(second.child, 'SIGINT');
    await start(d);
    expect(await queueCommands(target, ['DOUBLE GET m1'])).toEqual(['NO']);
  });
});
