/**
 * deploy/prometheus-alerts.yml and deploy/grafana-dashboard.json ask only for series that
 * `onionfleet metrics` serves (a renamed metric would silently empty a panel or mute an alert),
 * and are well-formed for their tools.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SUMMARY_SERIES } from '#shared/schema/metrics-summary.ts';
import { parsePromText } from '#shared/metrics/prom-text.ts';
import { fleetExposition } from '../../../controller/metrics/exposition.ts';
import { buildSnapshot } from '../../../controller/observe/snapshot.ts';
import { fleet } from '../../builders/fleet.ts';

const FUNCTIONS = new Set(['sum', 'by', 'rate', 'count', 'vector', 'or', 'increase', 'label_values', 'group', 'instance', 'device', 'kind']);

/** Metric names in a PromQL expression (identifiers not followed by `(`, outside label matchers and strings). */
function metricsIn(expr: string): string[] {
  const bare = expr.replace(/\{[^}]*\}/g, '').replace(/"[^"]*"/g, '').replace(/\[[^\]]*\]/g, '');
  return [...bare.matchAll(/\b([a-z_][a-z0-9_]*)\b(?!\s*\()/g)].map((m) => m[1] ?? '').filter((n) => !FUNCTIONS.has(n) && !/^\d/.test(n) && n.includes('_'));
}

function served(): Set<string> {
  const spec = fleet([{ id: 'pi-1', operator: 'alice' }], [{ id: 'g', smp: 1, xftp: 0 }]);
  const snapshot = buildSnapshot(spec, [{
    device: 'pi-1', receivedAt: 0, problem: null,
    status: {
      kind: 'onionfleet/status', version: 1, device: 'pi-1', desiredRevision: 1, appliedRevision: 1, converged: true, refused: null, error: null, blocked: [], observedAt: '', agentVersion: '0',
      instances: [{ id: 'g-smp-01', kind: 'smp', group: 'g', service: 'active', onion: null, fingerprint: null, address: null, probe: { reachable: true, identityOk: true, helloOk: true, latencyMs: 3, error: null }, healthy: true }],
      metrics: { collectedAt: '', agent: { reconcileSeconds: 1, reconciles: 1, restarts: 0, rssBytes: 1, backupAgeSeconds: 5 }, instances: [{ id: 'g-smp-01', version: '6.4.5.1', series: {}, fileAgeSeconds: 1 }] },
    },
  }], 1000, 180);
  const names = new Set((parsePromText(fleetExposition(snapshot, [{ rule: 'deviceSilent', subject: 'pi-1' }])) ?? []).map((s) => s.name));
  for (const s of SUMMARY_SERIES) names.add(s);
  return names;
}

describe('deploy/ monitoring files', () => {
  const names = served();

  it('prometheus-alerts.yml: rule groups whose expressions use served series', () => {
    const doc = parse(readFileSync('deploy/prometheus-alerts.yml', 'utf8')) as { groups: { name: string; rules: { alert: string; expr: string; for?: string }[] }[] };
    const rules = doc.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert)).toEqual(expect.arrayContaining(['OnionfleetGroupBelowMinimum', 'OnionfleetDeviceSilent', 'OnionfleetInstanceUnhealthy', 'OnionfleetBackupTooOld', 'OnionfleetControllerAlert']));
    for (const r of rules) {
      expect(metricsIn(r.expr).length, r.alert).toBeGreaterThan(0);
      for (const m of metricsIn(r.expr)) expect(names, `${r.alert}: ${m}`).toContain(m);
      if (r.for !== undefined) expect(r.for).toMatch(/^\d+[smh]$/);
    }
  });

  it('grafana-dashboard.json: every panel target uses served series', () => {
    const dash = JSON.parse(readFileSync('deploy/grafana-dashboard.json', 'utf8')) as { uid: string; panels: { title: string; targets: { expr: string }[] }[]; templating: { list: { query: string }[] } };
    expect(dash.uid).toBe('onionfleet-fleet');
    const exprs = [...dash.panels.flatMap((p) => p.targets.map((t) => ({ where: p.title, expr: t.expr }))), ...dash.templating.list.map((v) => ({ where: 'variable', expr: v.query }))];
    expect(exprs.length).toBeGreaterThan(10);
    for (const { where, expr } of exprs) for (const m of metricsIn(expr)) expect(names, `${where}: ${m}`).toContain(m);
    expect(exprs.some((e) => e.expr.includes('simplex_smp_'))).toBe(true);
  });
});
