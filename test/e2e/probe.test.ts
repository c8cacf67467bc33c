/**
 * The probes over real onion services, in a private Tor network on loopback (controller/tor): a
 * tor hosts two onions in front of an SMP and an XFTP double; a second tor is the client whose
 * SOCKS port the probes use. The controller's runner reaches both onions with identity ok and a
 * valid hello (0xF0 retried while the descriptors are being published), and calls the same onion
 * an ALARM when its pin is another CA; the agent's self-probe, addressing `<onion>:<onion port>`
 * itself, reports them reachable with identity ok.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SelfProbe } from '../../agent/probes/self-probe.ts';
import { judge, planProbes } from '../../controller/probe/aggregate.ts';
import { NO_PINS, type ProbeTarget } from '../../controller/probe/model.ts';
import { runProbes } from '../../controller/probe/runner.ts';
import { PrivateTorNetwork } from '../../controller/demo/private-tor/private-network.ts';
import type { TorProcess } from '../../controller/tor/tor-process.ts';
import { until } from '../support/processes.ts';
import { startDouble, type RunningDouble } from '../support/simplex-server.ts';

let work: string;
let network: PrivateTorNetwork | undefined;
let client: TorProcess;
let smp: RunningDouble;
let xftp: RunningDouble;
const doubles: RunningDouble[] = [];
const onions: Record<'smp' | 'xftp', string> = { smp: '', xftp: '' };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'onionfleet-e2e-probe-'));
  doubles.push(...await Promise.all([startDouble('smp'), startDouble('xftp')]));
  [smp, xftp] = doubles as [RunningDouble, RunningDouble];
  network = await PrivateTorNetwork.start({ dir: join(work, 'net') });
  const hs = { smp: join(work, 'host', 'hs-smp'), xftp: join(work, 'host', 'hs-xftp') };
  for (const dir of Object.values(hs)) await mkdir(dir, { recursive: true, mode: 0o700 });
  await network.startTor({
    name: 'host', dir: join(work, 'host'),
    lines: [`HiddenServiceDir ${hs.smp}`, `HiddenServicePort 5223 127.0.0.1:${smp.port}`, `HiddenServiceDir ${hs.xftp}`, `HiddenServicePort 443 127.0.0.1:${xftp.port}`],
  });
  client = await network.startTor({ name: 'client', dir: join(work, 'client'), lines: [], socks: true });
  for (const kind of ['smp', 'xftp'] as const) {
    onions[kind] = await until(`the ${kind} onion's hostname`, async () => (await readFile(join(hs[kind], 'hostname'), 'utf8').catch(() => '')).trim() || null, 60_000);
  }
}, 300_000);

afterAll(async () => {
  await network?.stop();
  await Promise.all(doubles.map((d) => d.stop()));
  await rm(work, { recursive: true, force: true });
}, 60_000);

const socks = () => ({ host: '127.0.0.1', port: client.socksPort ?? 0 });

describe('probes over a private Tor network', () => {
  it("the controller's runner: both onions reachable, identity ok, hello ok; a pin of another CA on the same onion → ALARM", async () => {
    const target = (instance: string, kind: 'smp' | 'xftp', fingerprint: string): ProbeTarget => ({ instance, device: 'pi-1', group: 'news', kind, onion: onions[kind], reportedFingerprint: fingerprint });
    const targets = [target('news-smp-01', 'smp', smp.fingerprint), target('news-xftp-01', 'xftp', xftp.fingerprint), target('news-smp-02', 'smp', xftp.fingerprint)];
    const plan = planProbes(targets, NO_PINS, new Date().toISOString());
    const report = judge(plan, await runProbes(plan, { socks: socks(), timeoutMs: 180_000 }), []);
    const by = Object.fromEntries(report.groups[0]!.instances.map((i) => [i.instance, i]));
    expect(by['news-smp-01']).toMatchObject({ verdict: 'ok', reachable: true, identityOk: true, helloOk: true, presentedFingerprint: smp.fingerprint });
    expect(by['news-xftp-01']).toMatchObject({ verdict: 'ok', reachable: true, identityOk: true, helloOk: true, presentedFingerprint: xftp.fingerprint });
    expect(by['news-smp-02']).toMatchObject({ verdict: 'alarm', reachable: true, presentedFingerprint: smp.fingerprint });
    expect(by['news-smp-02']!.alarms.map((a) => a.reason)).toEqual(['wrong-fingerprint']);
    expect(report.verdict).toBe('alarm');
  }, 400_000);

  it("the agent's self-probe reaches its onions on their onion ports", async () => {
    const probe = new SelfProbe({ socks: socks(), intervalMs: 30_000, timeoutMs: 180_000 });
    const targets = [
      { id: 'news-smp-01', kind: 'smp' as const, onion: onions.smp, onionPort: 5223, fingerprint: smp.fingerprint },
      { id: 'news-xftp-01', kind: 'xftp' as const, onion: onions.xftp, onionPort: 443, fingerprint: xftp.fingerprint },
    ];
    try {
      expect(probe.kick(targets)).toBe(true);
      await probe.settled();
      for (const t of targets) expect(probe.result(t)).toMatchObject({ reachable: true, identityOk: true, helloOk: true, socksFailure: null });
    } finally {
      await probe.close();
    }
  }, 400_000);
});
