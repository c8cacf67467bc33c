/**
 * The fleet's `/metrics` in Prometheus text format, from one snapshot. Pure.
 *
 * Labels: `device`, `operator`, `group`, `instance` — ids and names from fleet.yaml, never an onion
 * address (an instance is named by its id, e.g. `newsroom-smp-01`). The SimpleX series are the
 * agents' summaries (`simplex_smp_*`, `simplex_xftp_*`, each summed over the server's own labels);
 * instances of the extreme tier have none: their devices report health only.
 */
import { formatFamilies, type Family, type Sample } from '#shared/metrics/prom-text.ts';
import { groupHealth } from '../observe/group-health.ts';
import type { FleetSnapshot, SnapshotInstance } from '../observe/snapshot.ts';

/** An alert that fires now, for `onionfleet_alert_firing`. */
export interface FiringAlert {
  readonly rule: string;
  readonly subject: string;
}

const labelsOf = (i: SnapshotInstance) => ({ device: i.device, operator: i.operator, group: i.group, instance: i.id });

export function fleetExposition(snapshot: FleetSnapshot, firing: readonly FiringAlert[] = []): string {
  const families: Family[] = [];
  const family = (name: string, help: string, type: Family['type'], samples: Sample[]) => {
    families.push({ name, help, type, samples });
  };
  const simplex = new Map<string, Sample[]>();
  for (const i of snapshot.instances) {
    const m = i.metrics;
    if (m === null) continue;
    for (const [name, value] of Object.entries(m.series)) {
      const list = simplex.get(name) ?? [];
      list.push({ name, labels: labelsOf(i), value });
      simplex.set(name, list);
    }
    const info = `simplex_${i.kind}_info`;
    simplex.set(info, [...(simplex.get(info) ?? []), { name: info, labels: { ...labelsOf(i), version: m.version ?? 'unknown' }, value: 1 }]);
  }
  for (const [name, samples] of [...simplex].sort(([a], [b]) => (a < b ? -1 : 1))) family(name, `SimpleX server metric ${name}, as the device's agent last summarized it`, 'untyped', samples);
  const per = (pick: (i: SnapshotInstance) => number | null): Sample[] => snapshot.instances.flatMap((i) => { const v = pick(i); return v === null ? [] : [{ name: '', labels: labelsOf(i), value: v }]; });
  const named = (name: string, samples: Sample[]) => samples.map((s) => ({ ...s, name }));
  family('onionfleet_instance_healthy', 'The instance is healthy and its device reports', 'gauge', named('onionfleet_instance_healthy', per((i) => (i.healthy ? 1 : 0))));
  family('onionfleet_instance_probe_latency_seconds', "Latency of the device's last local identity probe of the instance", 'gauge', named('onionfleet_instance_probe_latency_seconds', per((i) => (i.probeLatencyMs === null ? null : i.probeLatencyMs / 1000))));
  family('onionfleet_instance_onion_probe_latency_seconds', "Latency of the device's last probe of the instance's onion through its own tor", 'gauge', named('onionfleet_instance_onion_probe_latency_seconds', per((i) => (i.onionProbeLatencyMs === null ? null : i.onionProbeLatencyMs / 1000))));
  family('onionfleet_instance_metrics_file_age_seconds', "Age of the server's metrics file when its agent last read it", 'gauge', named('onionfleet_instance_metrics_file_age_seconds', per((i) => i.metrics?.fileAgeSeconds ?? null)));
  const dev = (name: string, help: string, type: Family['type'], pick: (d: FleetSnapshot['devices'][number]) => number | null | undefined) => {
    family(name, help, type, snapshot.devices.flatMap((d) => { const v = pick(d); return v == null ? [] : [{ name, labels: { device: d.id, operator: d.operator }, value: v }]; }));
  };
  dev('onionfleet_device_last_status_age_seconds', "Seconds since the device's last status reached the bus", 'gauge', (d) => d.silentSeconds);
  dev('onionfleet_device_converged', 'The device converged on its desired state with every instance healthy', 'gauge', (d) => (d.converged ? 1 : 0));
  dev('onionfleet_agent_reconcile_duration_seconds', "Duration of the agent's last reconcile", 'gauge', (d) => d.agent?.reconcileSeconds);
  dev('onionfleet_agent_reconciles_total', 'Reconciles since the agent started', 'counter', (d) => d.agent?.reconciles);
  dev('onionfleet_agent_restarts_total', 'Instance restarts by the agent since it started', 'counter', (d) => d.agent?.restarts);
  dev('onionfleet_agent_resident_memory_bytes', "The agent process's resident memory at its last collection", 'gauge', (d) => d.agent?.rssBytes);
  dev('onionfleet_agent_backup_age_seconds', 'Age of the newest sealed backup on the device', 'gauge', (d) => d.agent?.backupAgeSeconds);
  const groups = snapshot.groups.map((g) => groupHealth(snapshot, g));
  family('onionfleet_group_healthy_instances', 'Healthy instances of the group, by kind', 'gauge', groups.flatMap((g) => [
    { name: 'onionfleet_group_healthy_instances', labels: { group: g.group, kind: 'smp' }, value: g.healthySmp },
    { name: 'onionfleet_group_healthy_instances', labels: { group: g.group, kind: 'xftp' }, value: g.healthyXftp },
  ]));
  family('onionfleet_group_below_minimum', "1 when the group's healthy instances no longer meet its tier's minimum", 'gauge', groups.map((g) => ({ name: 'onionfleet_group_below_minimum', labels: { group: g.group, tier: g.tier }, value: g.belowMinimum ? 1 : 0 })));
  family('onionfleet_alert_firing', 'Alerts the controller evaluates that fire now', 'gauge', firing.map((a) => ({ name: 'onionfleet_alert_firing', labels: { rule: a.rule, subject: a.subject }, value: 1 })));
  return formatFamilies(families.filter((f) => f.samples.length > 0 || f.name === 'onionfleet_alert_firing'));
}
