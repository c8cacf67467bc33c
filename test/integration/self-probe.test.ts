/**
 * The agent's self-probe (agent/probes/self-probe.ts) against the SimpleX doubles through a real
 * SOCKS5 proxy (microsocks), with IP targets standing in for the onions: a round runs in the
 * background and its results are cached per instance; at most one round per interval and never
 * two at once; a result is only served for the onion and fingerprint it was made for; a wrong
 * identity shows as identityOk false; close() ends it. And the default: on for a real host, off
 * in a sandbox unless `tor.selfProbe` says otherwise.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentConfig, resolveConfig } from '../../agent/config.ts';
import { SelfProbe, selfProbeEnabled, selfProbeFor, type SelfProbeTarget } from '../../agent/probes/self-probe.ts';
import { OnionProbeResult } from '#shared/schema/status.ts';
import { startMicrosocks, stopChild } from '../support/processes.ts';
import { startDouble, type RunningDouble } from '../support/simplex-server.ts';

const ONION_A = `${'a'.repeat(56)}.onion`;
const ONION_B = `${'b'.repeat(56)}.onion`;

let smp: RunningDouble;
let xftp: RunningDouble;
const doubles: RunningDouble[] = [];
let proxy: ChildProcess;
let proxyPort: number;

beforeAll(async () => {
  if (spawnSync('microsocks', ['-h']).error !== undefined) throw new Error('this test needs microsocks on PATH; run: bash deploy/dev-deps.sh');
  doubles.push(...await Promise.all([startDouble('smp'), startDouble('xftp')]));
  [smp, xftp] = doubles as [RunningDouble, RunningDouble];
  ({ child: proxy, port: proxyPort } = await startMicrosocks());
}, 60_000);

afterAll(async () => {
  await stopChild(proxy);
  await Promise.all(doubles.map((d) => d.stop()));
});

const targets = (): SelfProbeTarget[] => [
  { id: 'news-smp-01', kind: 'smp', onion: ONION_A, onionPort: 5223, fingerprint: smp.fingerprint },
  { id: 'news-xftp-01', kind: 'xftp', onion: ONION_B, onionPort: 443, fingerprint: xftp.fingerprint },
];

/** A probe whose onions are the doubles' loopback ports, on a clock the test moves. */
function selfProbe(clock: { now: number }) {
  const ports: Record<string, number> = { [ONION_A]: smp.port, [ONION_B]: xftp.port };
  return new SelfProbe({
    socks: { host: '127.0.0.1', port: proxyPort }, intervalMs: 30_000, timeoutMs: 10_000, now: () => clock.now,
    address: (t) => ({ host: '127.0.0.1', port: ports[t.onion]! }),
  });
}

describe('SelfProbe', () => {
  it('probes in the background, caches per instance, and starts at most one round per interval', async () => {
    const clock = { now: 1_000_000 };
    const probe = selfProbe(clock);
    try {
      expect(probe.result(targets()[0]!)).toBeNull();
      expect(probe.kick(targets())).toBe(true); // returns at once; the round runs in the background
      expect(probe.kick(targets())).toBe(false); // one is running
      await probe.settled();
      for (const t of targets()) {
        const r = probe.result(t);
        expect(OnionProbeResult.parse(r)).toEqual(r);
        expect(r).toMatchObject({ reachable: true, identityOk: true, helloOk: true, error: null, socksFailure: null, checkedAt: new Date(clock.now).toISOString() });
      }
      clock.now += 10_000;
      expect(probe.kick(targets())).toBe(false); // within the interval
      clock.now += 20_000;
      expect(probe.kick(targets())).toBe(true);
      await probe.settled();
      expect(probe.rounds).toBe(2);
      expect(probe.result(targets()[0]!)?.checkedAt).toBe(new Date(clock.now).toISOString());
    } finally {
      await probe.close();
    }
  });

  it('serves a result only for the onion and fingerprint it was made for, and forgets instances no longer listed', async () => {
    const clock = { now: 0 };
    const probe = selfProbe(clock);
    try {
      probe.kick(targets());
      await probe.settled();
      const [a, b] = targets();
      expect(probe.result(a!)).not.toBeNull();
      expect(probe.result({ ...a!, fingerprint: xftp.fingerprint })).toBeNull(); // re-created: not its predecessor's result
      expect(probe.result({ ...a!, onion: ONION_B })).toBeNull();
      probe.kick([a!]); // within the interval: no round, but b is forgotten
      expect(probe.result(b!)).toBeNull();
      expect(probe.result(a!)).not.toBeNull();
    } finally {
      await probe.close();
    }
  });

  it('an onion answering with another identity is identityOk false; close() ends rounds for good', async () => {
    const clock = { now: 0 };
    const probe = selfProbe(clock);
    const wrong: SelfProbeTarget = { id: 'news-smp-01', kind: 'smp', onion: ONION_A, onionPort: 5223, fingerprint: xftp.fingerprint };
    probe.kick([wrong]);
    await probe.settled();
    expect(probe.result(wrong)).toMatchObject({ reachable: true, identityOk: false });
    await probe.close();
    clock.now += 60_000;
    expect(probe.kick([wrong])).toBe(false);
  });
});

describe('tor.selfProbe', () => {
  const config = (body: object) => resolveConfig(AgentConfig.parse(body));

  it('is on for a real host, off in a sandbox, unless set', () => {
    expect(selfProbeEnabled(config({ root: '/' }))).toBe(true);
    expect(selfProbeEnabled(config({ root: '/tmp/x' }))).toBe(false);
    expect(selfProbeEnabled(config({ root: '/tmp/x', tor: { selfProbe: true } }))).toBe(true);
    expect(selfProbeEnabled(config({ root: '/', tor: { selfProbe: false } }))).toBe(false);
    expect(selfProbeFor(config({ root: '/tmp/x' }))).toBeNull();
    expect(selfProbeFor(config({ root: '/tmp/x', tor: { socks: '127.0.0.1:9150', selfProbe: true } }))).toBeInstanceOf(SelfProbe);
  });
});
