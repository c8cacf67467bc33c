/**
 * Evaluates the alert rules against one fleet snapshot. Pure: the rules, the snapshot, the
 * rollouts, the previous state and the clock in; the next state and the transitions (fired,
 * resolved) out. The shell delivers the transitions and saves the state.
 *
 * An alert is keyed by rule and subject (a group, device, instance or rollout id). It is *pending*
 * while its condition holds for less than the rule's duration, *firing* after, and *resolved* (a
 * transition, then forgotten) when the condition stops holding. Messages are built from ids,
 * tiers and numbers only — never an address, password or key — and scrubbed once more on the way out.
 */
import { groupHealth } from '../observe/group-health.ts';
import type { FleetSnapshot } from '../observe/snapshot.ts';
import type { AlertRules } from './rules.ts';

export const ALERT_RULES = ['groupBelowMinimum', 'instanceUnhealthy', 'deviceSilent', 'fingerprintChanged', 'backupTooOld', 'rolloutHalted'] as const;
export type AlertRule = (typeof ALERT_RULES)[number];

/** A rollout as the controller records it (issue #16's `rollout`); only halted ones alert. */
export interface RolloutView {
  readonly id: string;
  readonly state: string;
  readonly reason?: string | null;
}

export interface ActiveAlert {
  readonly rule: AlertRule;
  readonly subject: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly message: string;
  /** When the condition started holding (ms). */
  readonly since: number;
  readonly firing: boolean;
}

export interface AlertState {
  /** `rule/subject` → the alert, pending or firing. */
  readonly active: Readonly<Record<string, ActiveAlert>>;
  /** instance → the fingerprint first seen for it (what "changed" compares against). */
  readonly pinned: Readonly<Record<string, string>>;
}

export const EMPTY_ALERT_STATE: AlertState = { active: {}, pinned: {} };

export interface AlertEvent {
  readonly status: 'firing' | 'resolved';
  readonly fleet: string;
  readonly rule: AlertRule;
  readonly subject: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly message: string;
  readonly since: string;
  readonly at: string;
}

interface Condition {
  readonly rule: AlertRule;
  readonly subject: string;
  readonly labels: Record<string, string>;
  readonly message: string;
  /** Seconds the condition must hold before the alert fires. */
  readonly forSeconds: number;
}

export function evaluateAlerts(rules: AlertRules, snapshot: FleetSnapshot, rollouts: readonly RolloutView[], previous: AlertState, now: number): { state: AlertState; events: AlertEvent[] } {
  const pinned: Record<string, string> = { ...previous.pinned };
  const conditions = conditionsOf(rules, snapshot, rollouts, pinned);
  const active: Record<string, ActiveAlert> = {};
  const events: AlertEvent[] = [];
  const event = (a: ActiveAlert, status: AlertEvent['status']): AlertEvent => ({
    status, fleet: snapshot.fleet, rule: a.rule, subject: a.subject, labels: a.labels, message: scrub(a.message),
    since: new Date(a.since).toISOString(), at: new Date(now).toISOString(),
  });
  for (const c of conditions) {
    const key = `${c.rule}/${c.subject}`;
    const before = previous.active[key];
    const since = before?.since ?? now;
    const firing = before?.firing === true || now - since >= c.forSeconds * 1000;
    const alert: ActiveAlert = { rule: c.rule, subject: c.subject, labels: c.labels, message: scrub(c.message), since, firing };
    active[key] = alert;
    if (firing && before?.firing !== true) events.push(event(alert, 'firing'));
  }
  for (const [key, before] of Object.entries(previous.active)) {
    if (active[key] === undefined && before.firing) events.push(event(before, 'resolved'));
  }
  return { state: { active, pinned }, events };
}

function conditionsOf(rules: AlertRules, snapshot: FleetSnapshot, rollouts: readonly RolloutView[], pinned: Record<string, string>): Condition[] {
  const r = rules.rules;
  const out: Condition[] = [];
  if (r.groupBelowMinimum.enabled) {
    for (const g of snapshot.groups) {
      const h = groupHealth(snapshot, g);
      if (h.belowMinimum) out.push({ rule: 'groupBelowMinimum', subject: g.id, labels: { group: g.id, tier: g.tier }, forSeconds: r.groupBelowMinimum.forSeconds, message: `group ${g.id} (${g.tier}) is below its tier's healthy minimum: ${h.reasons.join('; ')}` });
    }
  }
  if (r.deviceSilent.enabled) {
    for (const d of snapshot.devices) {
      if (d.silentSeconds !== null && d.silentSeconds > r.deviceSilent.afterSeconds) {
        out.push({ rule: 'deviceSilent', subject: d.id, labels: { device: d.id, operator: d.operator }, forSeconds: 0, message: `device ${d.id} (operator ${d.operator}, ${d.location}) has sent no status for ${d.silentSeconds} s` });
      }
    }
  }
  if (r.instanceUnhealthy.enabled) {
    for (const i of snapshot.instances) {
      if (i.reporting && !i.healthy) out.push({ rule: 'instanceUnhealthy', subject: i.id, labels: { instance: i.id, group: i.group, device: i.device, operator: i.operator }, forSeconds: r.instanceUnhealthy.forMinutes * 60, message: `instance ${i.id} of group ${i.group} on ${i.device} is unhealthy (service ${i.service})` });
    }
  }
  if (r.fingerprintChanged.enabled) {
    for (const i of snapshot.instances) {
      const fp = snapshot.fingerprints.get(i.id);
      if (fp === undefined) continue;
      const first = pinned[i.id];
      if (first === undefined) pinned[i.id] = fp;
      else if (first !== fp) out.push({ rule: 'fingerprintChanged', subject: i.id, labels: { instance: i.id, group: i.group, device: i.device, operator: i.operator }, forSeconds: 0, message: `instance ${i.id} on ${i.device} reports another identity (CA fingerprint) than first seen: treat the device as compromised until explained` });
    }
  }
  if (r.backupTooOld.enabled) {
    const max = r.backupTooOld.maxAgeHours * 3600;
    for (const d of snapshot.devices) {
      const age = d.agent?.backupAgeSeconds;
      if (age != null && age > max) out.push({ rule: 'backupTooOld', subject: d.id, labels: { device: d.id, operator: d.operator }, forSeconds: 0, message: `device ${d.id}'s newest backup is ${Math.round(age / 3600)} h old (limit ${r.backupTooOld.maxAgeHours} h)` });
    }
  }
  if (r.rolloutHalted.enabled) {
    for (const ro of rollouts) {
      if (ro.state === 'halted') out.push({ rule: 'rolloutHalted', subject: ro.id, labels: { rollout: ro.id }, forSeconds: 0, message: `rollout ${ro.id} halted${ro.reason ? `: ${ro.reason}` : ''}` });
    }
  }
  return out;
}

/**
 * Defence in depth for every text that leaves in an alert: onion hostnames, SimpleX addresses
 * and anything shaped like a key or secret become `[redacted]`.
 */
export function scrub(text: string): string {
  return text
    .replace(/\b(?:smp|xftp):\/\/\S+/g, '[redacted]')
    .replace(/\b[a-z2-7]{56}\.onion\b/gi, '[redacted].onion')
    .replace(/\bAGE-SECRET-KEY-1[0-9A-Z]+/g, '[redacted]')
    .replace(/\b[A-Za-z0-9+/_-]{40,}={0,2}/g, '[redacted]');
}
