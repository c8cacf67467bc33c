/**
 * What the dashboard's page receives (`/api/fleet`): groups with their tiers and health against
 * the tier's minimum, devices, instances with device/operator/location/health, rollouts and alerts.
 * Pure. Built field by field from the snapshot — ids, names from fleet.yaml, health, numbers —
 * so no onion address, password, key or fingerprint can reach the page.
 */
import type { ActiveAlert, RolloutView } from '../alerts/evaluate.ts';
import { groupHealth } from '../observe/group-health.ts';
import type { FleetSnapshot } from '../observe/snapshot.ts';

export interface PageData {
  readonly fleet: string;
  readonly takenAt: string;
  readonly groups: readonly { id: string; tier: string; smp: number; xftp: number; healthySmp: number; healthyXftp: number; minSmp: number; minOperators: number; belowMinimum: boolean; reasons: readonly string[] }[];
  readonly devices: readonly { id: string; operator: string; location: string; state: string; silentSeconds: number | null; reporting: boolean; converged: boolean }[];
  readonly instances: readonly { id: string; kind: string; group: string; device: string; operator: string; location: string; healthy: boolean; reporting: boolean; service: string; probeLatencyMs: number | null; messagesSent: number | null }[];
  readonly rollouts: readonly { id: string; state: string }[];
  readonly alerts: readonly { rule: string; subject: string; message: string; since: string; firing: boolean }[];
}

export function pageData(snapshot: FleetSnapshot, alerts: readonly ActiveAlert[], rollouts: readonly RolloutView[]): PageData {
  return {
    fleet: snapshot.fleet,
    takenAt: new Date(snapshot.takenAt).toISOString(),
    groups: snapshot.groups.map((g) => {
      const h = groupHealth(snapshot, g);
      return { id: g.id, tier: g.tier, smp: g.smp, xftp: g.xftp, healthySmp: h.healthySmp, healthyXftp: h.healthyXftp, minSmp: h.minSmp, minOperators: h.minOperators, belowMinimum: h.belowMinimum, reasons: h.reasons };
    }),
    devices: snapshot.devices.map((d) => ({ id: d.id, operator: d.operator, location: d.location, state: d.state, silentSeconds: d.silentSeconds, reporting: d.reporting, converged: d.converged })),
    instances: snapshot.instances.map((i) => ({
      id: i.id, kind: i.kind, group: i.group, device: i.device, operator: i.operator, location: i.location, healthy: i.healthy,
      reporting: i.reporting, service: i.service, probeLatencyMs: i.probeLatencyMs, messagesSent: i.metrics?.series.simplex_smp_messages_sent ?? null,
    })),
    rollouts: rollouts.map((r) => ({ id: r.id, state: r.state })),
    alerts: [...alerts].sort((a, b) => a.since - b.since).map((a) => ({ rule: a.rule, subject: a.subject, message: a.message, since: new Date(a.since).toISOString(), firing: a.firing })),
  };
}
