/**
 * The pure core of `onionfleet probe`: pins are made on first sight and never rewritten; the
 * expected fingerprint is the pin, not today's report; a changed or wrongly presented fingerprint
 * is an alarm (never merely "unreachable"); per-group and fleet verdicts take the worst instance;
 * exit codes tell an alarm (5) from unreachable (4); output shows onions only truncated.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { exitCodeFor, judge, planProbes, probeIndices, shortOnion, targetsFromStatuses, type DeviceReport } from '../../../controller/probe/aggregate.ts';
import { NO_PINS, PinsFile, type ProbeOutcome, type ProbeTarget } from '../../../controller/probe/model.ts';
import { renderReport } from '../../../controller/probe/render.ts';
import { EXIT } from '#shared/errors.ts';

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
const hash = (seed: string | number) => createHash('sha256').update(String(seed));
/** A well-formed onion address and fingerprint, distinct per seed. */
const onion = (seed: string | number) => `${hash(`onion ${seed}`).digest('hex').slice(0, 56).replace(/./g, (c) => B32[parseInt(c, 16) * 2] ?? 'a')}.onion`;
const fp = (seed: string | number) => `${hash(`fp ${seed}`).digest('base64url')}=`;
const T0 = '2025-06-01T00:00:00.000Z';
const T1 = '2025-06-02T00:00:00.000Z';

function target(instance: string, over: Partial<ProbeTarget> = {}): ProbeTarget {
  return { instance, device: 'pi-1', group: instance.replace(/-(smp|xftp)-\d+$/, ''), kind: instance.includes('xftp') ? 'xftp' : 'smp', onion: onion(instance), reportedFingerprint: fp(instance), ...over };
}

const ok = (fingerprint: string, latencyMs = 800): ProbeOutcome => ({
  reachable: true, identityOk: true, presentedFingerprint: fingerprint, chainSigned: true, helloOk: true, latencyMs, error: null, socksFailure: null,
});
const unreachable = (socksFailure = 'descriptor-not-found'): ProbeOutcome => ({
  reachable: false, identityOk: false, presentedFingerprint: null, chainSigned: false, helloOk: false, latencyMs: null,
  error: `connect: Tor found no descriptor for the onion service (yet) (SOCKS5 reply 0xf0)`, socksFailure,
});
const presenting = (fingerprint: string): ProbeOutcome => ({ ...ok(fingerprint), identityOk: false, helloOk: true });

/** Plans against `pins`, gives each planned probe the outcome `probe(entry target, expected)` returns. */
function run(targets: readonly ProbeTarget[], pins: PinsFile = NO_PINS, probe: (t: ProbeTarget, expected: string) => ProbeOutcome | null = (_, e) => ok(e), now = T1) {
  const plan = planProbes(targets, pins, now);
  const indices = new Set(probeIndices(plan));
  const outcomes = plan.entries.map((e, i) => (indices.has(i) && e.expected !== null ? probe(e.target, e.expected) : null));
  return { plan, report: judge(plan, outcomes, []) };
}

describe('pins', () => {
  it('pins the reported fingerprint of every instance and onion seen for the first time, once', () => {
    const targets = [target('news-smp-01'), target('news-xftp-01')];
    const { plan } = run(targets, NO_PINS, undefined, T0);
    expect(plan.pinned).toEqual(['news-smp-01', 'news-xftp-01']);
    expect(plan.pins.pins.map((p) => [p.instance, p.onion, p.fingerprint, p.firstSeen])).toEqual(targets.map((t) => [t.instance, t.onion, t.reportedFingerprint, T0]));
    expect(PinsFile.parse(plan.pins)).toEqual(plan.pins);
    const again = run(targets, plan.pins, undefined, T1).plan;
    expect(again.pinned).toEqual([]);
    expect(again.pins).toEqual(plan.pins); // firstSeen stays T0
  });

  it('never rewrites a pin, and does not mutate the pins it was given', () => {
    const first = run([target('news-smp-01')], NO_PINS, undefined, T0).plan.pins;
    const frozen = structuredClone(first);
    const changed = run([target('news-smp-01', { reportedFingerprint: fp(99) })], first).plan;
    expect(changed.pins).toEqual(frozen);
    expect(first).toEqual(frozen);
    expect(changed.entries[0]?.expected).toBe(frozen.pins[0]?.fingerprint);
  });

  it('pins anew when an instance moved to another onion (a move gives a new address and identity)', () => {
    const pins = run([target('news-smp-01')], NO_PINS, undefined, T0).plan.pins;
    const moved = target('news-smp-01', { onion: onion(42), reportedFingerprint: fp(42), device: 'pi-2' });
    const { plan, report } = run([moved], pins);
    expect(plan.pinned).toEqual(['news-smp-01']);
    expect(plan.pins.pins).toHaveLength(2);
    expect(report.verdict).toBe('ok');
  });

  it('probes a pinned instance against its pin even when the device reports no fingerprint today', () => {
    const pins = run([target('news-smp-01')], NO_PINS, undefined, T0).plan.pins;
    const { plan } = run([target('news-smp-01', { reportedFingerprint: null })], pins);
    expect(probeIndices(plan)).toEqual([0]);
    expect(plan.entries[0]?.expected).toBe(target('news-smp-01').reportedFingerprint);
  });
});

describe('alarms', () => {
  const pinned = () => run([target('news-smp-01'), target('news-smp-02')], NO_PINS, undefined, T0).plan.pins;

  it('a device that reports another fingerprint for the same instance and onion is an ALARM, even if the onion still proves the pin', () => {
    const t = [target('news-smp-01', { reportedFingerprint: fp(77) }), target('news-smp-02')];
    const { report } = run(t, pinned());
    const [a, b] = report.groups[0]!.instances;
    expect(a).toMatchObject({ verdict: 'alarm', identityOk: true, expectedFingerprint: target('news-smp-01').reportedFingerprint, reportedFingerprint: fp(77) });
    expect(a!.alarms.map((x) => x.reason)).toEqual(['fingerprint-changed']);
    expect(b!.verdict).toBe('ok');
    expect(report.groups[0]!.verdict).toBe('alarm');
    expect(report.verdict).toBe('alarm');
    expect(exitCodeFor(report.verdict)).toBe(EXIT.failed);
  });

  it('an onion that presents another fingerprint than the pin is an ALARM — checked against the pin, not against what the device says now', () => {
    // The device now reports the impostor's fingerprint, and the onion presents it: still an alarm.
    const t = [target('news-smp-01', { reportedFingerprint: fp(77) }), target('news-smp-02')];
    const { plan, report } = run(t, pinned(), (x, expected) => (x.instance === 'news-smp-01' ? presenting(fp(77)) : ok(expected)));
    expect(plan.entries[0]?.expected).toBe(target('news-smp-01').reportedFingerprint);
    const a = report.groups[0]!.instances[0]!;
    expect(a.alarms.map((x) => x.reason).sort()).toEqual(['fingerprint-changed', 'wrong-fingerprint']);
    expect(a.presentedFingerprint).toBe(fp(77));
    expect(a.identityOk).toBe(false);
  });

  it('a wrong fingerprint on first sight (report and onion disagree) is an ALARM', () => {
    const { report } = run([target('news-smp-01')], NO_PINS, () => presenting(fp(5)));
    expect(report.groups[0]!.instances[0]!.alarms.map((a) => a.reason)).toEqual(['wrong-fingerprint']);
    expect(report.verdict).toBe('alarm');
  });

  it('the pinned CA without its signature on the server certificate, or no CA at all, is an ALARM', () => {
    const { report } = run([target('news-smp-01'), target('news-smp-02')], NO_PINS, (x, expected) =>
      x.instance === 'news-smp-01' ? { ...presenting(expected), chainSigned: false } : { ...presenting(expected), presentedFingerprint: null });
    expect(report.groups[0]!.instances.map((i) => i.alarms.map((a) => a.reason))).toEqual([['chain-not-signed'], ['no-identity']]);
  });

  it('unreachable is not an alarm, but a changed report on an unreachable onion still is', () => {
    const quiet = run([target('news-smp-01'), target('news-smp-02')], pinned(), (x, e) => (x.instance === 'news-smp-01' ? unreachable() : ok(e))).report;
    expect(quiet.groups[0]!.instances.map((i) => i.verdict)).toEqual(['unreachable', 'ok']);
    expect(quiet.groups[0]!.instances[0]!.problem).toBe('descriptor-not-found');
    expect(quiet.groups[0]!.instances[0]!.identityOk).toBeNull(); // nothing proved either way
    expect(quiet.verdict).toBe('unreachable');
    expect(exitCodeFor(quiet.verdict)).toBe(EXIT.unreachable);

    const loud = run([target('news-smp-01', { reportedFingerprint: fp(77) }), target('news-smp-02')], pinned(), (x, e) => (x.instance === 'news-smp-01' ? unreachable() : ok(e))).report;
    expect(loud.groups[0]!.instances[0]!.verdict).toBe('alarm');
    expect(loud.verdict).toBe('alarm');
    expect(exitCodeFor(loud.verdict)).not.toBe(exitCodeFor(quiet.verdict));
  });
});

describe('per-group and fleet verdicts', () => {
  const targets = [
    target('news-smp-01'), target('news-smp-02'), target('news-xftp-01'),
    target('fam-smp-01'), target('fam-smp-02'),
    target('ngo-smp-01'), target('ngo-smp-02', { onion: null, reportedFingerprint: null }),
    target('lab-smp-01'),
  ];

  it('each group gets the worst of its instances; the others are not dragged along', () => {
    const { report } = run(targets, NO_PINS, (t, e) => {
      if (t.instance === 'news-smp-02') return unreachable('intro-failed');
      if (t.instance === 'lab-smp-01') return presenting(fp(3));
      return t.instance === 'news-xftp-01' ? ok(e, 1500) : ok(e, t.instance === 'news-smp-01' ? 500 : 700);
    });
    const by = Object.fromEntries(report.groups.map((g) => [g.group, g]));
    expect(report.groups.map((g) => g.group)).toEqual(['fam', 'lab', 'news', 'ngo']);
    expect(by.fam).toMatchObject({ verdict: 'ok', total: 2, reachable: 2, identityOk: 2, alarms: 0, latencyMs: { median: 700, max: 700 } });
    expect(by.news).toMatchObject({ verdict: 'unreachable', total: 3, reachable: 2, identityOk: 2, latencyMs: { median: 1000, max: 1500 } });
    expect(by.ngo).toMatchObject({ verdict: 'degraded', total: 2, reachable: 1 });
    expect(by.ngo!.instances[1]).toMatchObject({ verdict: 'not-reported', problem: 'no onion reported yet', reachable: null });
    expect(by.lab).toMatchObject({ verdict: 'alarm', alarms: 1 });
    expect(report.verdict).toBe('alarm');

    expect(by.fam!.summary).toBe('fam: ok — 2/2 reachable, 2/2 identity ok, latency median 700 ms (max 700)');
    expect(by.news!.summary).toMatch(/^news: UNREACHABLE — news-smp-02 on pi-1 \(intro-failed\); 2\/3 reachable/);
    expect(by.ngo!.summary).toMatch(/^ngo: degraded — ngo-smp-02: no onion reported yet/);
    expect(by.lab!.summary).toMatch(/^lab: ALARM — lab-smp-01 on pi-1: wrong-fingerprint/);
  });

  it('a reachable server without a valid hello is degraded (exit 1), not unreachable', () => {
    const { report } = run([target('news-smp-01')], NO_PINS, (_, e) => ({ ...ok(e), helloOk: false, latencyMs: null, error: 'server hello: malformed server hello block' }));
    expect(report.groups[0]!.instances[0]).toMatchObject({ verdict: 'degraded', problem: 'server hello: malformed server hello block' });
    expect(exitCodeFor(report.verdict)).toBe(EXIT.failed);
  });

  it('a device without a usable status makes the fleet at least degraded', () => {
    const plan = planProbes([target('news-smp-01')], NO_PINS, T0);
    const report = judge(plan, [ok(target('news-smp-01').reportedFingerprint!)], [{ device: 'pi-9', problem: 'unverifiable status (bad-signature)' }]);
    expect(report.groups[0]!.verdict).toBe('ok');
    expect(report.verdict).toBe('degraded');
    expect(exitCodeFor('ok')).toBe(EXIT.ok);
  });

  it('targets come from the verified statuses only, filtered by group and sorted', () => {
    const status = (instances: { id: string; group: string }[]): DeviceReport['status'] => ({
      instances: instances.map((i) => ({ ...i, kind: 'smp', service: 'active', onion: onion(1), fingerprint: fp(1), address: null, probe: null, healthy: true })),
    });
    const devices: DeviceReport[] = [
      { device: 'pi-2', status: status([{ id: 'news-smp-02', group: 'news' }, { id: 'fam-smp-01', group: 'fam' }]), problem: null },
      { device: 'pi-1', status: status([{ id: 'news-smp-01', group: 'news' }]), problem: null },
      { device: 'pi-3', status: null, problem: 'no status reported yet' },
    ];
    const all = targetsFromStatuses(devices, null);
    expect(all.targets.map((t) => `${t.group}/${t.instance}@${t.device}`)).toEqual(['fam/fam-smp-01@pi-2', 'news/news-smp-01@pi-1', 'news/news-smp-02@pi-2']);
    expect(all.devices).toEqual([{ device: 'pi-3', problem: 'no status reported yet' }]);
    expect(targetsFromStatuses(devices, 'fam').targets.map((t) => t.instance)).toEqual(['fam-smp-01']);
  });
});

describe('output', () => {
  it('shows onions only truncated, and says what an alarm means', () => {
    const t = [target('news-smp-01'), target('news-smp-02', { reportedFingerprint: fp(77) })];
    const pins = run(t.map((x) => ({ ...x, reportedFingerprint: target(x.instance).reportedFingerprint })), NO_PINS, undefined, T0).plan.pins;
    const { report } = run(t, pins);
    const text = renderReport(report, '127.0.0.1:9050 (system tor)');
    for (const x of t) {
      expect(text).not.toContain(x.onion!);
      expect(text).not.toContain(x.onion!.slice(0, 20));
      expect(text).toContain(shortOnion(x.onion!));
    }
    expect(JSON.stringify(report)).not.toContain(t[0]!.onion!);
    expect(text).toMatch(/news-smp-02 +pi-1 +\S+… +yes +ALARM fingerprint-changed/);
    expect(text).toContain('verdict: ALARM');
    expect(text).toContain('probed 2 instances through 127.0.0.1:9050 (system tor)');
  });
});
