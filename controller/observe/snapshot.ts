/**
 * One observation of the fleet for metrics, alerts and the dashboard: the fleet.yaml's groups and
 * devices joined with what each device last reported. Pure: statuses, the spec and the clock in,
 * a snapshot out. It holds no onion address, password or key: only ids, names the admin chose in
 * fleet.yaml, health, and numbers. Fingerprints stay in `fingerprints`, which only the alert
 * evaluator reads (to compare), never the renderers.
 */
import type { FleetSpec, Tier } from '#shared/schema/fleet-spec.ts';
import type { AgentFigures, InstanceMetrics } from '#shared/schema/metrics-summary.ts';
import type { DeviceStatus } from '#shared/schema/status.ts';

/** What the controller heard from one device. */
export interface DeviceReport {
  readonly device: string;
  readonly status: DeviceStatus | null;
  /** When the bus stored the last status (the server's clock, not the device's), ms since the epoch. */
  readonly receivedAt: number | null;
  readonly problem: string | null;
}

export interface SnapshotGroup {
  readonly id: string;
  readonly tier: Tier;
  readonly smp: number;
  readonly xftp: number;
}

export interface SnapshotDevice {
  readonly id: string;
  readonly operator: string;
  readonly location: string;
  readonly state: string;
  /** Seconds since its last status reached the bus; null when none ever did. */
  readonly silentSeconds: number | null;
  /** Its last status is within the silence threshold. */
  readonly reporting: boolean;
  readonly converged: boolean;
  readonly problem: string | null;
  readonly agent: AgentFigures | null;
}

export interface SnapshotInstance {
  readonly id: string;
  readonly kind: 'smp' | 'xftp';
  readonly group: string;
  readonly device: string;
  readonly operator: string;
  readonly location: string;
  /** Healthy as last reported (a silent device's instances keep their last word; see `reporting`). */
  readonly healthy: boolean;
  /** The device's status is fresh (within the silence threshold the caller chose). */
  readonly reporting: boolean;
  readonly service: string;
  readonly probeLatencyMs: number | null;
  /** Latency of the device's last probe of the instance's own onion through its tor (tor.selfProbe), when it passed. */
  readonly onionProbeLatencyMs: number | null;
  readonly metrics: InstanceMetrics | null;
}

export interface FleetSnapshot {
  readonly fleet: string;
  readonly takenAt: number;
  readonly groups: readonly SnapshotGroup[];
  readonly devices: readonly SnapshotDevice[];
  readonly instances: readonly SnapshotInstance[];
  /** instance id → the fingerprint its device reports (for the "fingerprint changed" rule only). */
  readonly fingerprints: ReadonlyMap<string, string>;
}

/**
 * Joins the spec and the reports. `silentAfterSeconds`: a device whose last status is older
 * counts as not reporting, and its instances as not healthy.
 */
export function buildSnapshot(spec: FleetSpec, reports: readonly DeviceReport[], now: number, silentAfterSeconds: number): FleetSnapshot {
  const byDevice = new Map(reports.map((r) => [r.device, r]));
  const devices: SnapshotDevice[] = [];
  const instances: SnapshotInstance[] = [];
  const fingerprints = new Map<string, string>();
  for (const d of [...spec.devices].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const r = byDevice.get(d.id);
    const silentSeconds = r?.receivedAt == null ? null : Math.max(0, Math.round((now - r.receivedAt) / 1000));
    const reporting = silentSeconds !== null && silentSeconds <= silentAfterSeconds;
    const s = r?.status ?? null;
    devices.push({
      id: d.id, operator: d.operator, location: d.location, state: d.state, silentSeconds, reporting,
      converged: s !== null && s.converged && s.instances.every((i) => i.healthy),
      problem: r?.problem ?? (s?.error ?? null), agent: s?.metrics?.agent ?? null,
    });
    for (const i of s?.instances ?? []) {
      if (i.fingerprint !== null) fingerprints.set(i.id, i.fingerprint);
      instances.push({
        id: i.id, kind: i.kind, group: i.group, device: d.id, operator: d.operator, location: d.location,
        healthy: i.healthy && reporting, reporting, service: i.service, probeLatencyMs: i.probe?.latencyMs ?? null,
        onionProbeLatencyMs: i.onionProbe?.reachable === true ? i.onionProbe.latencyMs : null,
        metrics: s?.metrics?.instances.find((m) => m.id === i.id) ?? null,
      });
    }
  }
  instances.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const groups = spec.groups.map((g) => ({ id: g.id, tier: g.tier, smp: g.smp, xftp: g.xftp })).sort((a, b) => (a.id < b.id ? -1 : 1));
  return { fleet: spec.fleet, takenAt: now, groups, devices, instances, fingerprints };
}
