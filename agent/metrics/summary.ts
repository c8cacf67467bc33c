/**
 * From the servers' metrics files and the agent's own figures to (a) the node_exporter textfile and
 * (b) the compact summary that travels in the status. Pure: text in, text and data out.
 *
 * The textfile keeps every SimpleX sample with its own labels except `rts_options` (free text set
 * by the environment), adds `instance` and `group` (ids, never an address), and drops the servers'
 * timestamps (the textfile collector refuses them).
 */
import { formatFamilies, type Family, type Sample } from '#shared/metrics/prom-text.ts';
import { SUMMARY_SERIES, type AgentFigures, type InstanceMetrics, type SummarySeries } from '#shared/schema/metrics-summary.ts';

/** One instance's last good metrics file, parsed. */
export interface CollectedInstance {
  readonly id: string;
  readonly group: string;
  readonly samples: readonly Sample[];
  readonly fileAgeSeconds: number;
}

/** What the agent itself knows about each instance at this round. */
export interface InstanceFigures {
  readonly id: string;
  readonly group: string;
  readonly healthy: boolean;
  readonly probeLatencyMs: number | null;
  readonly restarts: number;
}

const SERIES = new Set<string>(SUMMARY_SERIES);
const DROPPED_LABELS = new Set(['rts_options']);

/** The compact summary of one instance (see MetricsSummary). */
export function summarizeInstance(c: CollectedInstance): InstanceMetrics {
  const series: Partial<Record<SummarySeries, number>> = {};
  let version: string | null = null;
  for (const s of c.samples) {
    if (SERIES.has(s.name) && Number.isFinite(s.value)) series[s.name as SummarySeries] = (series[s.name as SummarySeries] ?? 0) + s.value;
    if ((s.name === 'simplex_smp_info' || s.name === 'simplex_xftp_info') && /^\d+(\.\d+){0,4}$/.test(s.labels.version ?? '')) version = s.labels.version ?? null;
  }
  return { id: c.id, version, series, fileAgeSeconds: Math.max(0, Math.round(c.fileAgeSeconds)) };
}

/** The textfile: SimpleX families per instance, then the agent's own. */
export function renderTextfile(instances: readonly CollectedInstance[], figures: readonly InstanceFigures[], agent: AgentFigures): string {
  const families: Family[] = [];
  for (const c of instances) {
    const byName = new Map<string, Sample[]>();
    for (const s of c.samples) {
      if (!/^simplex_(smp|xftp)_[a-z0-9_]+$/.test(s.name)) continue;
      const labels: Record<string, string> = { instance: c.id, group: c.group };
      for (const [k, v] of Object.entries(s.labels)) if (!DROPPED_LABELS.has(k) && k !== 'instance' && k !== 'group') labels[k] = v;
      const list = byName.get(s.name) ?? [];
      list.push({ name: s.name, labels, value: s.value });
      byName.set(s.name, list);
    }
    for (const [name, samples] of byName) families.push({ name, help: `SimpleX server metric ${name} (from its metrics file)`, type: 'untyped', samples });
    families.push({ name: 'onionfleet_instance_metrics_file_age_seconds', help: 'Seconds since the server last rewrote its metrics file', type: 'gauge', samples: [{ name: 'onionfleet_instance_metrics_file_age_seconds', labels: { instance: c.id, group: c.group }, value: Math.round(c.fileAgeSeconds) }] });
  }
  const per = (name: string, help: string, type: Family['type'], value: (f: InstanceFigures) => number | null): Family => ({
    name, help, type,
    samples: figures.flatMap((f) => { const v = value(f); return v === null ? [] : [{ name, labels: { instance: f.id, group: f.group }, value: v }]; }),
  });
  families.push(
    per('onionfleet_instance_healthy', 'The instance passed its last health check (service active, identity probe ok)', 'gauge', (f) => (f.healthy ? 1 : 0)),
    per('onionfleet_instance_probe_latency_seconds', 'Latency of the last local TLS identity probe', 'gauge', (f) => (f.probeLatencyMs === null ? null : f.probeLatencyMs / 1000)),
    per('onionfleet_instance_restarts_total', 'Restarts of the instance by the agent since it started', 'counter', (f) => f.restarts),
    { name: 'onionfleet_agent_reconcile_duration_seconds', help: 'Duration of the last reconcile', type: 'gauge', samples: agent.reconcileSeconds === null ? [] : [{ name: 'onionfleet_agent_reconcile_duration_seconds', labels: {}, value: agent.reconcileSeconds }] },
    { name: 'onionfleet_agent_reconciles_total', help: 'Reconciles since the agent started', type: 'counter', samples: [{ name: 'onionfleet_agent_reconciles_total', labels: {}, value: agent.reconciles }] },
    { name: 'onionfleet_agent_restarts_total', help: 'Instance restarts by the agent since it started', type: 'counter', samples: [{ name: 'onionfleet_agent_restarts_total', labels: {}, value: agent.restarts }] },
  );
  if (agent.rssBytes !== undefined) {
    families.push({ name: 'onionfleet_agent_resident_memory_bytes', help: "The agent process's resident memory", type: 'gauge', samples: [{ name: 'onionfleet_agent_resident_memory_bytes', labels: {}, value: agent.rssBytes }] });
  }
  if (agent.backupAgeSeconds != null) {
    families.push({ name: 'onionfleet_agent_backup_age_seconds', help: 'Age of the newest sealed backup', type: 'gauge', samples: [{ name: 'onionfleet_agent_backup_age_seconds', labels: {}, value: agent.backupAgeSeconds }] });
  }
  return formatFamilies(families);
}
