/**
 * `onionfleet probe`'s runner against the SimpleX doubles through a real SOCKS5 proxy (Debian's
 * microsocks), with IP targets standing in for onions (the real onion path is the e2e suite's):
 * reachable with identity ok for SMP and XFTP, a double with another CA than the pin → ALARM, a
 * closed port → unreachable with the proxy's reason, no proxy → unreachable, a bounded number of
 * probes at once. Tor's extended replies cannot come from microsocks, so a tiny fake SOCKS5 server
 * here answers 0xF0 (retried until it forwards, or until the deadline) and 0xF4 (not retried).
 * Also: the pins file (0600, atomic, a damaged one refused) and the choice of proxy.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judge, planProbes } from '../../controller/probe/aggregate.ts';
import { NO_PINS, type ProbeTarget } from '../../controller/probe/model.ts';
import { loadPins, pinsPath, savePins } from '../../controller/probe/pins-file.ts';
import { runProbes } from '../../controller/probe/runner.ts';
import { chooseSocks, SYSTEM_TOR_SOCKS } from '../../controller/probe/socks.ts';
import { statePaths } from '../../controller/state/paths.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { probeThroughSocks } from '#shared/probes/over-socks.ts';
import { freePort, startMicrosocks, stopChild } from '../support/processes.ts';
import { startDouble, type RunningDouble } from '../support/simplex-server.ts';

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
const onion = (seed: string) => `${createHash('sha256').update(seed).digest('hex').slice(0, 56).replace(/./g, (c) => B32[parseInt(c, 16) * 2] ?? 'a')}.onion`;

let smp: RunningDouble;
let xftp: RunningDouble;
let impostor: RunningDouble;
/** Every double started, for afterAll (also when beforeAll failed half-way). */
const doubles: RunningDouble[] = [];
let proxy: ChildProcess;
let proxyPort: number;
let work: string;

beforeAll(async () => {
  if (spawnSync('microsocks', ['-h']).error !== undefined) throw new Error('this test needs microsocks on PATH; run: bash deploy/dev-deps.sh');
  work = await mkdtemp(join(tmpdir(), 'onionfleet-probe-'));
  doubles.push(...await Promise.all([startDouble('smp'), startDouble('xftp'), startDouble('smp')]));
  [smp, xftp, impostor] = doubles as [RunningDouble, RunningDouble, RunningDouble];
  ({ child: proxy, port: proxyPort } = await startMicrosocks());
}, 60_000);

afterAll(async () => {
  await stopChild(proxy);
  await Promise.all(doubles.map((d) => d.stop()));
  await rm(work, { recursive: true, force: true });
});

/** A target whose "onion" is a stand-in: the runner's `address` maps each instance to a loopback port. */
function target(instance: string, fingerprint: string): ProbeTarget {
  return { instance, device: 'pi-1', group: instance.replace(/-(smp|xftp)-\d+$/, ''), kind: instance.includes('xftp') ? 'xftp' : 'smp', onion: onion(instance), reportedFingerprint: fingerprint };
}

describe('the runner through microsocks, with IP targets', () => {
  it('reachable and identity ok for SMP and XFTP; the pin of a double with another CA → ALARM; a closed port → unreachable', async () => {
    const closed = await freePort();
    const ports: Record<string, number> = { 'news-smp-01': smp.port, 'news-xftp-01': xftp.port, 'news-smp-02': impostor.port, 'fam-smp-01': closed };
    // news-smp-02 was pinned with smp's fingerprint; the server behind its address is the impostor.
    const targets = [target('news-smp-01', smp.fingerprint), target('news-xftp-01', xftp.fingerprint), target('news-smp-02', smp.fingerprint), target('fam-smp-01', smp.fingerprint)];
    const plan = planProbes(targets, NO_PINS, new Date().toISOString());
    const outcomes = await runProbes(plan, {
      socks: { host: '127.0.0.1', port: proxyPort }, timeoutMs: 10_000,
      address: (t) => ({ host: '127.0.0.1', port: ports[t.instance]! }),
    });
    const report = judge(plan, outcomes, []);
    const news = report.groups.find((g) => g.group === 'news')!;
    const by = Object.fromEntries(news.instances.map((i) => [i.instance, i]));
    expect(by['news-smp-01']).toMatchObject({ verdict: 'ok', reachable: true, identityOk: true, helloOk: true, presentedFingerprint: smp.fingerprint });
    expect(by['news-smp-01']!.latencyMs).toBeGreaterThanOrEqual(0);
    expect(by['news-xftp-01']).toMatchObject({ verdict: 'ok', reachable: true, identityOk: true, helloOk: true });
    expect(by['news-smp-02']).toMatchObject({ verdict: 'alarm', reachable: true, identityOk: false, expectedFingerprint: smp.fingerprint, presentedFingerprint: impostor.fingerprint });
    expect(by['news-smp-02']!.alarms.map((a) => a.reason)).toEqual(['wrong-fingerprint']);
    expect(news.verdict).toBe('alarm');
    const fam = report.groups.find((g) => g.group === 'fam')!;
    expect(fam.verdict).toBe('unreachable');
    expect(fam.instances[0]).toMatchObject({ verdict: 'unreachable', reachable: false });
    expect(outcomes[plan.entries.findIndex((e) => e.target.instance === 'fam-smp-01')]?.socksFailure).toBe('connection-refused');
    expect(report.verdict).toBe('alarm');
  });

  it('needs the proxy: with nothing listening there, every instance is unreachable (proxy-unreachable)', async () => {
    const plan = planProbes([target('news-smp-01', smp.fingerprint)], NO_PINS, new Date().toISOString());
    const [outcome] = await runProbes(plan, { socks: { host: '127.0.0.1', port: await freePort() }, timeoutMs: 5000, address: () => ({ host: '127.0.0.1', port: smp.port }) });
    expect(outcome).toMatchObject({ reachable: false, socksFailure: 'proxy-unreachable' });
    expect(outcome?.error).toMatch(/^connect: cannot reach the SOCKS proxy/);
  });

  it('runs at most `concurrency` probes at once, and probes each planned instance once', async () => {
    const targets = Array.from({ length: 10 }, (_, i) => target(`load-smp-${String(i + 1).padStart(2, '0')}`, smp.fingerprint));
    const plan = planProbes(targets, NO_PINS, new Date().toISOString());
    let inFlight = 0;
    let peak = 0;
    let calls = 0;
    const outcomes = await runProbes(plan, {
      socks: { host: '127.0.0.1', port: proxyPort }, timeoutMs: 10_000, concurrency: 3,
      address: () => ({ host: '127.0.0.1', port: smp.port }),
      probe: async (o) => {
        calls++;
        peak = Math.max(peak, ++inFlight);
        try {
          return await probeThroughSocks(o);
        } finally {
          inFlight--;
        }
      },
    });
    expect(calls).toBe(10);
    expect(peak).toBe(3);
    expect(outcomes.every((o) => o?.identityOk === true && o.helloOk)).toBe(true);
  });
});

describe("Tor's extended replies, from a fake SOCKS5 server speaking for Tor", () => {
  let fake: Server;
  let fakePort: number;
  /** Reply byte for the next CONNECTs (0x00: forward to the SMP double); the last one repeats. */
  let replies: number[] = [];
  let connects = 0;
  /** The SOCKS5 address type of each CONNECT (0x03: a name, as Tor needs for .onion). */
  const addressTypes: number[] = [];
  const open = new Set<Socket>();

  beforeAll(async () => {
    fake = createServer((socket: Socket) => {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      socket.on('error', () => undefined);
      let stage = 0;
      socket.on('data', (chunk: Buffer) => {
        if (stage === 0) {
          stage = 1;
          socket.write(Buffer.from([0x05, 0x00]));
          return;
        }
        if (stage !== 1) return;
        stage = 2;
        const reply = replies.length > 1 ? replies.shift()! : replies[0] ?? 0x00;
        connects++;
        addressTypes.push(chunk[3] ?? -1);
        if (reply !== 0x00) {
          socket.end(Buffer.from([0x05, reply, 0x00, 0x01, 0, 0, 0, 0, 0, 0]));
          return;
        }
        const upstream = connect(smp.port, '127.0.0.1', () => {
          socket.write(Buffer.from([0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0, 0]));
          socket.pipe(upstream);
          upstream.pipe(socket);
        });
        upstream.on('error', () => socket.destroy());
        socket.on('close', () => upstream.destroy());
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    fakePort = (fake.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of open) socket.destroy();
    await new Promise((resolve) => fake.close(resolve));
  });

  const probe = (timeoutMs: number) => probeThroughSocks({
    socks: { host: '127.0.0.1', port: fakePort }, target: { host: onion('x'), port: 5223 }, kind: 'smp', fingerprint: smp.fingerprint, timeoutMs, retryDelayMs: 100,
  });

  it('0xF0 (descriptor not found) is retried within the deadline, and the probe then succeeds', async () => {
    replies = [0xf0, 0xf0, 0x00];
    connects = 0;
    const found = await probe(10_000);
    expect(found).toMatchObject({ reachable: true, identityOk: true, helloOk: true, socksFailure: null, attempts: 3 });
    expect(connects).toBe(3);
    expect(addressTypes.every((t) => t === 0x03)).toBe(true); // the onion went to the proxy as a name (socks5h)
  });

  it('0xF0 until the deadline: unreachable, saying so, within the deadline', async () => {
    replies = [0xf0];
    const started = Date.now();
    const found = await probe(1500);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(found).toMatchObject({ reachable: false, socksFailure: 'descriptor-not-found' });
    expect(found.attempts).toBeGreaterThan(1);
    expect(found.error).toMatch(/descriptor/);
    expect(found.error).not.toContain(onion('x'));
  });

  it('0xF4 (client authorization missing) is not retried, and named', async () => {
    replies = [0xf4];
    connects = 0;
    const found = await probe(10_000);
    expect(found).toMatchObject({ reachable: false, socksFailure: 'client-auth-missing', attempts: 1 });
    expect(found.error).toContain('requires client authorization');
    expect(connects).toBe(1);
  });
});

describe('the pins file and the choice of proxy', () => {
  it('saves pins atomically with mode 0600, loads them back; none before the first save; a damaged file is exit 2', async () => {
    const dir = await mkdtemp(join(work, 'state-'));
    const paths = statePaths(dir); // no controller.json: a state without a passphrase, pins in the clear
    const keys = { ageIdentity: 'unused' };
    expect(await loadPins(paths, keys)).toEqual(NO_PINS);
    const plan = planProbes([target('news-smp-01', smp.fingerprint)], NO_PINS, '2025-06-01T00:00:00.000Z');
    await savePins(paths, plan.pins);
    expect((await stat(pinsPath(paths))).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['pins.json']); // no temp file left
    expect(await loadPins(paths, keys)).toEqual(plan.pins);
    await writeFile(pinsPath(paths), '{"kind":"onionfleet/pins","version":1,"pins":[{"instance":"x"}]}');
    await expect(loadPins(paths, keys)).rejects.toBeInstanceOf(InvalidInputError);
  });

  it("--socks wins; else the controller tor's runtime file while its pid lives; else 127.0.0.1:9050", async () => {
    const paths = statePaths(await mkdtemp(join(work, 'state-')));
    expect(await chooseSocks(paths, '127.0.0.1:9150')).toEqual({ socks: { host: '127.0.0.1', port: 9150 }, source: '--socks' });
    await expect(chooseSocks(paths, 'localhost')).rejects.toBeInstanceOf(InvalidInputError);
    expect(await chooseSocks(paths, undefined)).toEqual({ socks: SYSTEM_TOR_SOCKS, source: 'system tor' });
    await mkdir(paths.tor, { recursive: true });
    await writeFile(paths.torRuntime, JSON.stringify({ pid: process.pid, socksPort: 19050, controlPort: 19051 }));
    expect(await chooseSocks(paths, undefined)).toEqual({ socks: { host: '127.0.0.1', port: 19050 }, source: 'controller tor' });
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    await writeFile(paths.torRuntime, JSON.stringify({ pid: Number(dead.stdout), socksPort: 19050, controlPort: 19051 }));
    expect(await chooseSocks(paths, undefined)).toEqual({ socks: SYSTEM_TOR_SOCKS, source: 'system tor' });
  });
});
