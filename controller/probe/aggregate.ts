/**
 * The pure core of `onionfleet probe`: targets from the devices' statuses, the pins (the first
 * fingerprint seen per instance and onion), and the verdicts per instance, per group and for the
 * fleet. No I/O, no clock: `now` is an input.
 *
 * Trust: the expected fingerprint is the pin, never what a device reports today. A device that
 * reports another fingerprint for a pinned instance and onion is an alarm, and so is an onion that
 * presents anything but the pin — an alarm is never downgraded to "unreachable".
 */
import { EXIT, type ExitCode } from '#shared/errors.ts';
import type { DeviceStatus } from '#shared/schema/status.ts';
import {
  ALARM_REASONS, type Alarm, type DeviceProblem, type GroupResult, type GroupVerdict, type InstanceResult,
  type InstanceVerdict, type Pin, type PinsFile, type ProbeOutcome, type ProbeReport, type ProbeTarget,
} from './model.ts';

/** A device as the controller sees it: its verified status, or why there is none. */
export interface DeviceReport {
  readonly device: string;
  readonly status: Pick<DeviceStatus, 'instances'> | null;
  readonly problem: string | null;
}

/**
 * Every instance the devices report (of `group` only, when given), sorted by group, instance and
 * device; and the devices whose status is missing or unverifiable.
 */
export function targetsFromStatuses(devices: readonly DeviceReport[], group: string | null): { targets: ProbeTarget[]; devices: DeviceProblem[] } {
  const targets: ProbeTarget[] = [];
  const problems: DeviceProblem[] = [];
  for (const d of devices) {
    if (d.status === null) {
      problems.push({ device: d.device, problem: d.problem ?? 'no status' });
      continue;
    }
    for (const i of d.status.instances) {
      if (group !== null && i.group !== group) continue;
      targets.push({ instance: i.id, device: d.device, group: i.group, kind: i.kind, onion: i.onion, reportedFingerprint: i.fingerprint });
    }
  }
  targets.sort((a, b) => compare(a.group, b.group) || compare(a.instance, b.instance) || compare(a.device, b.device));
  return { targets, devices: problems };
}

/** One target and what it must prove. */
export interface PlannedProbe {
  readonly target: ProbeTarget;
  /** The pinned fingerprint (made from the report when first seen); `null`: nothing to check against. */
  readonly expected: string | null;
  readonly pinnedSince: string | null;
  /** The device reports another fingerprint than the pin. */
  readonly changed: boolean;
}

export interface ProbePlan {
  readonly entries: readonly PlannedProbe[];
  /** The pins after this run: the old ones, plus the first-seen ones. */
  readonly pins: PinsFile;
  /** Instances pinned now. */
  readonly pinned: readonly string[];
}

/**
 * Matches each target with its pin (same instance, same onion), pinning the reported fingerprint
 * of a pair seen for the first time. Never drops or rewrites an existing pin. Does not mutate `pins`.
 */
export function planProbes(targets: readonly ProbeTarget[], pins: PinsFile, now: string): ProbePlan {
  const byKey = new Map<string, Pin>(pins.pins.map((p) => [pinKey(p.instance, p.onion), p]));
  const pinned: string[] = [];
  const entries = targets.map((target): PlannedProbe => {
    if (target.onion === null) return { target, expected: null, pinnedSince: null, changed: false };
    const key = pinKey(target.instance, target.onion);
    const pin = byKey.get(key);
    if (pin !== undefined) {
      const changed = target.reportedFingerprint !== null && target.reportedFingerprint !== pin.fingerprint;
      return { target, expected: pin.fingerprint, pinnedSince: pin.firstSeen, changed };
    }
    if (target.reportedFingerprint === null) return { target, expected: null, pinnedSince: null, changed: false };
    const made: Pin = { instance: target.instance, onion: target.onion, fingerprint: target.reportedFingerprint, device: target.device, firstSeen: now };
    byKey.set(key, made);
    pinned.push(target.instance);
    return { target, expected: made.fingerprint, pinnedSince: now, changed: false };
  });
  const all = [...byKey.values()].sort((a, b) => compare(a.instance, b.instance) || compare(a.onion, b.onion));
  return { entries, pins: { ...pins, pins: all }, pinned };
}

/** Indices of the entries to probe: an onion and a fingerprint to expect. */
export function probeIndices(plan: ProbePlan): number[] {
  return plan.entries.flatMap((e, i) => (e.target.onion !== null && e.expected !== null ? [i] : []));
}

/**
 * The report: `outcomes[i]` is entry i's probe, `null` when it was not probed. Groups sorted by id;
 * the fleet's verdict is the worst group's (a device without a usable status makes it at least degraded).
 */
export function judge(plan: ProbePlan, outcomes: readonly (ProbeOutcome | null)[], devices: readonly DeviceProblem[]): ProbeReport {
  const byGroup = new Map<string, InstanceResult[]>();
  plan.entries.forEach((entry, i) => {
    const result = judgeInstance(entry, outcomes[i] ?? null);
    byGroup.set(result.group, [...(byGroup.get(result.group) ?? []), result]);
  });
  const groups = [...byGroup].sort(([a], [b]) => compare(a, b)).map(([group, results]) => groupResult(group, results));
  const verdict = worst([...groups.map((g) => g.verdict), ...(devices.length > 0 ? ['degraded' as const] : [])]);
  return { verdict, groups, devices: [...devices], pinned: [...plan.pinned] };
}

/** One instance's result from its plan entry and its probe (`null`: not probed). */
export function judgeInstance(entry: PlannedProbe, outcome: ProbeOutcome | null): InstanceResult {
  const { target } = entry;
  const alarms: Alarm[] = [];
  if (entry.changed) alarms.push(alarm('fingerprint-changed', `reports ${fp(target.reportedFingerprint)}, pinned ${fp(entry.expected)} since ${entry.pinnedSince ?? '?'}`));
  if (outcome?.reachable === true && !outcome.identityOk) {
    if (outcome.presentedFingerprint === null) alarms.push(alarm('no-identity', 'no CA certificate presented'));
    else if (outcome.presentedFingerprint !== entry.expected) alarms.push(alarm('wrong-fingerprint', `presented ${fp(outcome.presentedFingerprint)}, pinned ${fp(entry.expected)}`));
    else alarms.push(alarm('chain-not-signed', `the pinned CA ${fp(entry.expected)} did not sign the server certificate`));
  }
  const verdict: InstanceVerdict =
    alarms.length > 0 ? 'alarm'
      : outcome === null ? (target.onion === null || entry.expected === null ? 'not-reported' : 'unreachable')
        : !outcome.reachable ? 'unreachable'
          : !outcome.helloOk ? 'degraded'
            : 'ok';
  return {
    instance: target.instance,
    device: target.device,
    group: target.group,
    kind: target.kind,
    onion: target.onion === null ? null : shortOnion(target.onion),
    verdict,
    alarms,
    reachable: outcome?.reachable ?? null,
    identityOk: outcome?.reachable === true ? outcome.identityOk : null, // unknown without a TLS session
    helloOk: outcome?.helloOk ?? null,
    latencyMs: outcome?.latencyMs ?? null,
    expectedFingerprint: entry.expected,
    presentedFingerprint: outcome?.presentedFingerprint ?? null,
    reportedFingerprint: target.reportedFingerprint,
    pinnedSince: entry.pinnedSince,
    problem: problemOf(entry, outcome, verdict),
  };
}

function problemOf(entry: PlannedProbe, outcome: ProbeOutcome | null, verdict: InstanceVerdict): string | null {
  if (verdict === 'ok') return null;
  if (verdict === 'alarm') return null; // the alarms say it
  if (outcome === null) {
    if (entry.target.onion === null) return 'no onion reported yet';
    return entry.expected === null ? 'no fingerprint reported yet' : 'not probed';
  }
  if (!outcome.reachable) return outcome.socksFailure ?? outcome.error ?? 'unreachable';
  return outcome.error ?? 'no valid server hello';
}

/** A group's counts, latency, verdict and its one-line summary. */
export function groupResult(group: string, instances: readonly InstanceResult[]): GroupResult {
  const reachable = instances.filter((i) => i.reachable === true).length;
  const identityOk = instances.filter((i) => i.identityOk === true && i.alarms.length === 0).length;
  const alarmed = instances.filter((i) => i.verdict === 'alarm');
  const latencies = instances.flatMap((i) => (i.verdict === 'ok' && i.latencyMs !== null ? [i.latencyMs] : [])).sort((a, b) => a - b);
  const latencyMs = latencies.length === 0 ? null : { median: median(latencies), max: latencies[latencies.length - 1] ?? 0 };
  const verdict = worst(instances.map((i) => (i.verdict === 'not-reported' ? 'degraded' : i.verdict)));
  const total = instances.length;
  const counts = `${reachable}/${total} reachable, ${identityOk}/${total} identity ok`;
  const latency = latencyMs === null ? '' : `, latency median ${latencyMs.median} ms (max ${latencyMs.max})`;
  const list = (want: InstanceVerdict, say: (i: InstanceResult) => string) => instances.filter((i) => i.verdict === want).map(say).join('; ');
  const summary =
    verdict === 'alarm' ? `${group}: ALARM — ${alarmed.map((i) => `${i.instance} on ${i.device}: ${i.alarms.map((a) => `${a.reason} (${a.message})`).join(', ')}`).join('; ')}`
      : verdict === 'unreachable' ? `${group}: UNREACHABLE — ${list('unreachable', (i) => `${i.instance} on ${i.device} (${i.problem ?? 'unreachable'})`)}; ${counts}${latency}`
        : verdict === 'degraded' ? `${group}: degraded — ${[list('degraded', (i) => `${i.instance}: ${i.problem ?? 'no valid hello'}`), list('not-reported', (i) => `${i.instance}: ${i.problem ?? 'not reported'}`)].filter((s) => s !== '').join('; ')}; ${counts}${latency}`
          : `${group}: ok — ${counts}${latency}`;
  return { group, verdict, total, reachable, identityOk, alarms: alarmed.length, latencyMs, summary, instances: [...instances] };
}

/**
 * The exit code for a verdict: 0 ok · 1 degraded (no valid hello, nothing reported yet, a device
 * without a usable status) · 4 unreachable · 1 alarm (docs/reference/fleet-yaml.md allows `probe` 0 · 1 · 4 only;
 * `verdict: "alarm"` in the report tells an alarm apart). An alarm wins over everything.
 */
export function exitCodeFor(verdict: GroupVerdict): ExitCode {
  return { ok: EXIT.ok, degraded: EXIT.failed, unreachable: EXIT.unreachable, alarm: EXIT.failed }[verdict];
}

/** The truncated form of an onion address for output: its first 8 characters and `…`. */
export function shortOnion(onion: string): string {
  return `${onion.slice(0, 8)}…`;
}

const RANK: Record<GroupVerdict, number> = { ok: 0, degraded: 1, unreachable: 2, alarm: 3 };

function worst(verdicts: readonly GroupVerdict[]): GroupVerdict {
  return verdicts.reduce<GroupVerdict>((a, b) => (RANK[b] > RANK[a] ? b : a), 'ok');
}

function alarm(reason: keyof typeof ALARM_REASONS, detail: string): Alarm {
  return { reason, message: `${ALARM_REASONS[reason]}: ${detail}` };
}

/** A fingerprint shortened for a sentence (the full one is in the JSON). */
function fp(fingerprint: string | null): string {
  return fingerprint === null ? '(none)' : `${fingerprint.slice(0, 12)}…`;
}

function median(sorted: readonly number[]): number {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : Math.round(((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2);
}

function pinKey(instance: string, onion: string): string {
  return `${instance}\u0000${onion}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
