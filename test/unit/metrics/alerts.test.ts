/**
 * The controller's view of the fleet, pure: the snapshot, the tiers' healthy minimum, the
 * `/metrics` exposition (labels, no SimpleX series for the extreme tier, no address), every alert
 * rule firing and clearing, and the rules file refused with one line per problem (exit 2).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError, formatProblem } from '#shared/errors.ts';
import { parsePromText } from '#shared/metrics/prom-text.ts';
import type { DeviceStatus, InstanceStatus } from '#shared/schema/status.ts';
import { EMPTY_ALERT_STATE, evaluateAlerts, scrub, type AlertState } from '../../../controller/alerts/evaluate.ts';
import { loadAlertRules } from '../../../controller/alerts/load-rules.ts';
import { AlertRules, DEFAULT_ALERT_RULES } from '../../../controller/alerts/rules.ts';
import { fleetExposition } from '../../../controller/metrics/exposition.ts';
import { groupHealth } from '../../../controller/observe/group-health.ts';
import { buildSnapshot, type DeviceReport } from '../../../controller/observe/snapshot.ts';
import { fleet } from '../../builders/fleet.ts';

const ONION = `${'a'.repeat(56)}.onion`;
const spec = fleet(
  [{ id: 'pi-1', operator: 'alice' }, { id: 'pi-2', operator: 'bob' }, { id: 'pi-3', operator: 'carol' }],
  [{ id: 'newsroom', tier: 'high', smp: 2, xftp: 1 }],
);
const NOW = Date.parse('2026-12-03T12:00:00Z');

function inst(id: string, healthy = true, fingerprint = 'fp-1'): InstanceStatus {
  return {
    id, kind: id.includes('-smp-') ? 'smp' : 'xftp', group: 'newsroom', service: healthy ? 'active' : 'failed', onion: ONION, fingerprint, address: `smp://${fingerprint}:secretpw@${ONION}`, probe: null, healthy,
    onionProbe: { reachable: true, identityOk: true, helloOk: true, latencyMs: 850, error: null, socksFailure: null, checkedAt: new Date(NOW).toISOString() },
  };
}

function report(device: string, instances: InstanceStatus[], ageSeconds = 1, extra: Partial<DeviceStatus> = {}): DeviceReport {
  const status: DeviceStatus = {
    kind: 'onionfleet/status', version: 1, device, desiredRevision: 1, appliedRevision: 1, converged: true, refused: null, error: null,
    blocked: [], instances, observedAt: new Date(NOW).toISOString(), agentVersion: '0.1.0',
    metrics: { collectedAt: new Date(NOW).toISOString(), agent: { reconcileSeconds: 0.2, reconciles: 4, restarts: 0 }, instances: instances.map((i) => ({ id: i.id, version: '6.4.5.1', series: { simplex_smp_messages_sent: 7 }, fileAgeSeconds: 3 })) },
    ...extra,
  };
  return { device, status, receivedAt: NOW - ageSeconds * 1000, problem: null };
}

const healthyFleet = (over: { pi2Age?: number; pi1Fp?: string; smp1Healthy?: boolean } = {}) => buildSnapshot(spec, [
  report('pi-1', [inst('newsroom-smp-01', over.smp1Healthy ?? true, over.pi1Fp ?? 'fp-1')]),
  report('pi-2', [inst('newsroom-smp-02')], over.pi2Age ?? 1),
  report('pi-3', [inst('newsroom-xftp-01')]),
], NOW, 180);

describe('snapshot, minimum and exposition', () => {
  it('counts a silent device\'s instances as unhealthy, and the high tier then falls below its minimum', () => {
    expect(groupHealth(healthyFleet(), { id: 'newsroom', tier: 'high', smp: 2, xftp: 1 }).belowMinimum).toBe(false);
    const silent = healthyFleet({ pi2Age: 600 });
    expect(silent.devices.find((d) => d.id === 'pi-2')?.silentSeconds).toBe(600);
    const h = groupHealth(silent, { id: 'newsroom', tier: 'high', smp: 2, xftp: 1 });
    expect(h).toMatchObject({ belowMinimum: true, healthySmp: 1, healthyOperators: 1, minSmp: 2, minOperators: 2 });
  });

  it('labels every series device, operator, group, instance and never names an address', () => {
    const text = fleetExposition(healthyFleet(), [{ rule: 'deviceSilent', subject: 'pi-2' }]);
    const samples = parsePromText(text) ?? [];
    expect(samples.find((s) => s.name === 'simplex_smp_messages_sent' && s.labels.instance === 'newsroom-smp-02')?.labels).toEqual({ device: 'pi-2', operator: 'bob', group: 'newsroom', instance: 'newsroom-smp-02' });
    expect(samples.find((s) => s.name === 'simplex_smp_info' && s.labels.instance === 'newsroom-smp-01')?.labels.version).toBe('6.4.5.1');
    expect(samples.find((s) => s.name === 'onionfleet_alert_firing')?.labels).toEqual({ rule: 'deviceSilent', subject: 'pi-2' });
    expect(samples.find((s) => s.name === 'onionfleet_instance_onion_probe_latency_seconds' && s.labels.instance === 'newsroom-smp-01')?.value).toBe(0.85);
    expect(text).not.toContain('.onion');
    expect(text).not.toContain('secretpw');
    expect(text).not.toContain('fp-1');
  });

  it('has no SimpleX series for an instance whose device reports none (the extreme tier: health only)', () => {
    const extreme = fleet([{ id: 'pi-1', operator: 'alice' }, { id: 'pi-2', operator: 'bob' }, { id: 'pi-3', operator: 'carol' }], [{ id: 'sources', tier: 'extreme', smp: 3, xftp: 0 }]);
    const r = report('pi-1', [{ ...inst('sources-smp-01'), group: 'sources' }]);
    const snapshot = buildSnapshot(extreme, [{ ...r, status: r.status === null ? null : { ...r.status, metrics: { ...r.status.metrics!, instances: [] } } }], NOW, 180);
    const samples = parsePromText(fleetExposition(snapshot)) ?? [];
    expect(samples.filter((s) => s.name.startsWith('simplex_'))).toEqual([]);
    expect(samples.find((s) => s.name === 'onionfleet_instance_healthy')?.labels.instance).toBe('sources-smp-01');
  });
});

describe('alert rules', () => {
  const run = (state: AlertState, snapshot = healthyFleet(), rules = DEFAULT_ALERT_RULES, at = NOW, rollouts: { id: string; state: string; reason?: string }[] = []) => evaluateAlerts(rules, snapshot, rollouts, state, at);

  it('fires device silent and group below minimum once, and resolves them when the device is back', () => {
    const quiet = run(EMPTY_ALERT_STATE);
    expect(quiet.events).toEqual([]);
    const down = run(quiet.state, healthyFleet({ pi2Age: 600 }));
    expect(down.events.map((e) => `${e.status} ${e.rule} ${e.subject}`).sort()).toEqual(['firing deviceSilent pi-2', 'firing groupBelowMinimum newsroom']);
    expect(run(down.state, healthyFleet({ pi2Age: 610 })).events).toEqual([]); // not fired twice
    const back = run(down.state, healthyFleet());
    expect(back.events.map((e) => `${e.status} ${e.rule} ${e.subject}`).sort()).toEqual(['resolved deviceSilent pi-2', 'resolved groupBelowMinimum newsroom']);
    expect(back.state.active).toEqual({});
  });

  it('fires an unhealthy instance only after its minutes, and not for a silent device', () => {
    const rules = AlertRules.parse({ version: 1, rules: { instanceUnhealthy: { forMinutes: 5 }, groupBelowMinimum: { enabled: false } } });
    const first = run(EMPTY_ALERT_STATE, healthyFleet({ smp1Healthy: false }), rules);
    expect(first.events).toEqual([]);
    expect(first.state.active['instanceUnhealthy/newsroom-smp-01']?.firing).toBe(false);
    const later = run(first.state, healthyFleet({ smp1Healthy: false }), rules, NOW + 5 * 60_000);
    expect(later.events.map((e) => e.rule)).toEqual(['instanceUnhealthy']);
    expect(run(EMPTY_ALERT_STATE, healthyFleet({ pi2Age: 600 }), rules).state.active['instanceUnhealthy/newsroom-smp-02']).toBeUndefined();
  });

  it('fires when an instance reports another fingerprint than first seen, without printing either', () => {
    const seen = run(EMPTY_ALERT_STATE);
    expect(seen.state.pinned['newsroom-smp-01']).toBe('fp-1');
    const changed = run(seen.state, healthyFleet({ pi1Fp: 'fp-2' }));
    expect(changed.events.map((e) => `${e.rule} ${e.subject}`)).toEqual(['fingerprintChanged newsroom-smp-01']);
    expect(JSON.stringify(changed.events)).not.toMatch(/fp-[12]/);
  });

  it('fires for a backup too old and a halted rollout when those inputs exist', () => {
    const r = report('pi-3', [inst('newsroom-xftp-01')]);
    const old = { ...r, status: r.status === null ? null : { ...r.status, metrics: { ...r.status.metrics!, agent: { reconcileSeconds: 0.1, reconciles: 1, restarts: 0, backupAgeSeconds: 72 * 3600 } } } };
    const snapshot = buildSnapshot(spec, [report('pi-1', [inst('newsroom-smp-01')]), report('pi-2', [inst('newsroom-smp-02')]), old], NOW, 180);
    const fired = run(EMPTY_ALERT_STATE, snapshot, DEFAULT_ALERT_RULES, NOW, [{ id: 'r-7', state: 'halted', reason: `health gate failed on pi-2 (${ONION})` }, { id: 'r-6', state: 'done' }]);
    expect(fired.events.map((e) => `${e.rule} ${e.subject}`).sort()).toEqual(['backupTooOld pi-3', 'rolloutHalted r-7']);
    expect(fired.events.find((e) => e.rule === 'rolloutHalted')?.message).toBe('rollout r-7 halted: health gate failed on pi-2 ([redacted].onion)');
  });

  it('scrubs addresses and key-shaped text from any message', () => {
    expect(scrub(`x smp://fp=:pw@${ONION} y`)).toBe('x [redacted] y');
    expect(scrub('key AGE-SECRET-KEY-1QQQQQQQQQQQQQQQ')).toBe('key [redacted]');
  });
});

describe('the rules file', () => {
  let dir = '';
  afterEach(async () => { if (dir !== '') await rm(dir, { recursive: true, force: true }); });

  it('is read with defaults, and refused with one line per problem naming file and field', async () => {
    dir = await mkdtemp(join(tmpdir(), 'onionfleet-alerts-'));
    const good = join(dir, 'good.yaml');
    await writeFile(good, 'version: 1\nrules:\n  deviceSilent: { afterSeconds: 60 }\nchannels:\n  - { type: webhook, url: "http://127.0.0.1:9/x" }\n');
    const rules = await loadAlertRules(good);
    expect(rules.rules.deviceSilent.afterSeconds).toBe(60);
    expect(rules.rules.instanceUnhealthy.forMinutes).toBe(5);
    expect(rules.channels[0]).toMatchObject({ type: 'webhook', socks: '127.0.0.1:9050' });

    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'version: 1\nrules:\n  deviceSilnt: {}\n  deviceSilent: { afterSeconds: -1 }\nchannels:\n  - { type: webhook, url: "ftp://x" }\n');
    const err = await loadAlertRules(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    const lines = (err as InvalidInputError).problems.map(formatProblem);
    expect(lines.some((l) => l.startsWith(`${bad}: rules`) && l.includes('deviceSilnt'))).toBe(true);
    expect(lines.some((l) => l.startsWith(`${bad}: rules.deviceSilent.afterSeconds`))).toBe(true);
    expect(lines.some((l) => l.startsWith(`${bad}: channels[0].url`))).toBe(true);
    expect((err as InvalidInputError).exitCode).toBe(2);
  });
});
