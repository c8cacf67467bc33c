/**
 * TorProcess (controller/tor/tor-process.ts) with the real Debian tor, without a Tor network: each
 * tor is given one DirAuthority at 127.0.0.1:1, so it never reaches beyond loopback (it just fails to
 * bootstrap). Covers the ports tor picks, reload (confirmed, refused), the typed start failures with
 * no tor left behind, stop by pid, and tor exiting by itself when its owning Node process dies.
 */
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { TorControl } from '../../controller/tor/control-port.ts';
import { TorProcess } from '../../controller/tor/tor-process.ts';
import { InvalidInputError, OperationFailedError } from '#shared/errors.ts';
import { listenersOf, pidsWithCommandLine } from '../support/listeners.ts';
import { alive, stopPid, until } from '../support/processes.ts';

/** Keeps tor on loopback: its only directory authority is 127.0.0.1:1, where nothing answers. */
const OFFLINE = 'DirAuthority offline orport=1 no-v2 v3ident=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 127.0.0.1:1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const CHILD = fileURLToPath(new URL('../support/tor-child.mjs', import.meta.url));

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'onionfleet-torproc-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function start(dir: string, lines: readonly string[] = [OFFLINE], socks = true): Promise<TorProcess> {
  const tor = await TorProcess.start({ name: 'test', dir, lines, socks, waitForBootstrap: false });
  cleanups.push(() => tor.stop());
  return tor;
}

async function failure(promise: Promise<unknown>): Promise<OperationFailedError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(OperationFailedError);
  return err as OperationFailedError;
}

const listenerPorts = (pid: number) => listenersOf(pid).map((l) => `${l.address}:${l.port}`).sort();

describe('TorProcess', () => {
  it('starts tor with the control and SOCKS ports tor picked, on loopback only, and stops it by pid', async () => {
    const dir = await tempDir();
    const tor = await start(dir);
    expect(alive(tor.pid)).toBe(true);
    expect(tor.socksPort).toBeGreaterThan(0);
    expect(listenerPorts(tor.pid)).toEqual([`127.0.0.1:${tor.controlPort}`, `127.0.0.1:${tor.socksPort}`].sort());
    expect((await tor.control.getinfo('version')).get('version')).toMatch(/^0\.4\./);
    expect(tor.runtime()).toEqual({ pid: tor.pid, socksPort: tor.socksPort, controlPort: tor.controlPort, torrcPath: join(dir, 'torrc') });
    expect((await stat(join(dir, 'data'))).mode & 0o777).toBe(0o700);
    expect((await stat(tor.torrcPath)).mode & 0o777).toBe(0o600);
    expect(await readFile(tor.torrcPath, 'utf8')).toContain(`\n${OFFLINE}\n`);

    await tor.stop();
    expect(tor.running).toBe(false);
    expect(alive(tor.pid)).toBe(false);
    await tor.exited();
    await tor.stop(); // idempotent
  });

  it('gives no SOCKS port without `socks`', async () => {
    const tor = await start(await tempDir(), [OFFLINE], false);
    expect(tor.socksPort).toBeNull();
    expect(listenerPorts(tor.pid)).toEqual([`127.0.0.1:${tor.controlPort}`]);
  });

  it('reloads new lines on SIGHUP once tor confirms, keeping its ports', async () => {
    const dir = await tempDir();
    const tor = await start(dir);
    const before = listenerPorts(tor.pid);
    const hs = join(dir, 'hs');
    await tor.reload([OFFLINE, `HiddenServiceDir ${hs}`, 'HiddenServicePort 80 127.0.0.1:9']);
    // tor made the onion's keys: the new lines are in force.
    const hostname = await until('tor to write the onion hostname', async () => (await readFile(join(hs, 'hostname'), 'utf8').catch(() => null)), 10_000);
    expect(hostname).toMatch(/^[a-z2-7]{56}\.onion\n$/);
    expect(listenerPorts(tor.pid)).toEqual(before);
    expect(await readFile(tor.torrcPath, 'utf8')).toContain(`HiddenServiceDir ${hs}`);
    await tor.reload(); // the same lines again: still confirmed
    expect(tor.running).toBe(true);
  });

  it('reloads through a second control connection, as a process that did not start tor does', async () => {
    const dir = await tempDir();
    const tor = await start(dir);
    const hs = join(dir, 'hs');
    await appendFile(tor.torrcPath, `HiddenServiceDir ${hs}\nHiddenServicePort 80 127.0.0.1:9\n`);
    const control = await TorControl.connect(tor.controlPort);
    cleanups.push(async () => { control.close(); await control.closed(); });
    await control.reloadConfig();
    expect(await readFile(join(hs, 'hostname'), 'utf8').catch(() => null)).not.toBeNull();
  });

  it('refuses on reload a torrc tor would reject, and keeps running the old one', async () => {
    const dir = await tempDir();
    const tor = await start(dir);
    const torrc = await readFile(tor.torrcPath, 'utf8');
    const err = await failure(tor.reload([OFFLINE, 'BogusOption 1']));
    expect(err.code).toBe('tor-config-rejected');
    expect(err.message).toContain('BogusOption');
    expect(tor.running).toBe(true);
    expect(await readFile(tor.torrcPath, 'utf8')).toBe(torrc);
    await expect(stat(join(dir, 'torrc.next'))).rejects.toThrow();
    expect((await tor.control.getinfo('version')).size).toBe(1);
  });

  it('refuses lines that set what it manages, or smuggle a second line, before starting anything', async () => {
    const dir = join(await tempDir(), 'tor');
    const err = await TorProcess.start({ name: 'test', dir, lines: [OFFLINE, 'SocksPort 9050', 'Nickname x\nControlPort 9051'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as InvalidInputError).problems.map((p) => p.path)).toEqual(['line 2', 'line 3']);
    await expect(stat(dir)).rejects.toThrow();
  });

  it('reports a config tor refuses, with its complaint, and leaves no tor behind', async () => {
    const dir = await tempDir();
    const err = await failure(TorProcess.start({ name: 'test', dir, lines: [OFFLINE, 'BogusOption 1'] }));
    expect(err.code).toBe('tor-config-rejected');
    expect(err.message).toContain("Unknown option 'BogusOption'");
    expect(pidsWithCommandLine(dir)).toEqual([]);
  });

  it('reports a port another process holds', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => { busy.close(() => { resolve(); }); }));
    const port = (busy.address() as { port: number }).port;
    const dir = await tempDir();
    const err = await failure(TorProcess.start({ name: 'test', dir, lines: [OFFLINE, `ORPort 127.0.0.1:${port}`, 'Address 127.0.0.1', 'AssumeReachable 1'] }));
    expect(err.code).toBe('tor-port-in-use');
    expect(pidsWithCommandLine(dir)).toEqual([]);
  });

  it('reports a missing tor binary', async () => {
    const dir = await tempDir();
    const err = await failure(TorProcess.start({ name: 'test', dir, lines: [OFFLINE], binary: join(dir, 'no-such-tor') }));
    expect(err.code).toBe('tor-missing');
    expect(err.hint).toContain('dev-deps.sh');
  });

  it('gives up bootstrapping at the deadline and kills tor', async () => {
    const dir = await tempDir();
    const err = await failure(TorProcess.start({ name: 'test', dir, lines: [OFFLINE], bootstrapTimeoutMs: 1_500 }));
    expect(err.code).toBe('tor-bootstrap-timeout');
    expect(err.message).toMatch(/last phase: .*PROGRESS=\d+/);
    expect(pidsWithCommandLine(dir)).toEqual([]);
  });

  it('has tor exit by itself when the Node process that started it dies', async () => {
    const dir = await tempDir();
    const child = spawn(process.execPath, [CHILD, dir, OFFLINE], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => stopPid(child.pid ?? 0, 'SIGKILL'));
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', () => { reject(new Error('the child exited before starting tor')); });
    });
    const { pid } = JSON.parse(line) as { pid: number };
    cleanups.push(() => stopPid(pid));
    expect(alive(pid)).toBe(true);
    child.kill('SIGKILL');
    // tor polls its owning process every 15 s.
    await until(`tor ${pid} to notice its owner died`, () => (alive(pid) ? null : true), 30_000);
  }, 45_000);
});
