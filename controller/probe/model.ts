/**
 * The vocabulary of `onionfleet probe`: what is probed (targets from the devices' statuses), what
 * each instance is expected to prove (its pinned fingerprint), what a probe found, and the verdicts.
 * Pure: types and schemas only.
 */
import { z } from 'zod';
import { Id } from '#shared/schema/common.ts';
import { InstanceId, InstanceKind } from '#shared/schema/desired-state.ts';

/** One instance as its device reports it (`status.<device>`). */
export interface ProbeTarget {
  readonly instance: string;
  readonly device: string;
  readonly group: string;
  readonly kind: InstanceKind;
  /** `<56>.onion`, or `null` before the device reports one. A secret: printed only truncated. */
  readonly onion: string | null;
  /** The fingerprint the device reports today; `null` before it reports one. */
  readonly reportedFingerprint: string | null;
}

/**
 * The first fingerprint the controller saw for one instance at one onion. The instance must prove
 * it forever after: a device cannot make the controller expect another identity by reporting one.
 */
export const Pin = z.strictObject({
  instance: InstanceId,
  onion: z.string().regex(/^[a-z2-7]{56}\.onion$/, { error: 'expected a v3 onion address' }),
  fingerprint: z.string().regex(/^[A-Za-z0-9_-]{43}=$/, { error: 'expected a 44-character base64url fingerprint' }),
  /** The device that reported it first. */
  device: Id,
  /** When it was first seen (ISO 8601). */
  firstSeen: z.string(),
});
export type Pin = z.infer<typeof Pin>;

/** `state/pins.json` (mode 0600: it holds onion addresses). */
export const PinsFile = z.strictObject({
  kind: z.literal('onionfleet/pins'),
  version: z.literal(1),
  pins: z.array(Pin),
});
export type PinsFile = z.infer<typeof PinsFile>;

/** The pin file before any probe. */
export const NO_PINS: PinsFile = { kind: 'onionfleet/pins', version: 1, pins: [] };

/**
 * What one probe found (structurally a subset of shared/probes' `SocksProbe`, so the pure code
 * needs no I/O module).
 */
export interface ProbeOutcome {
  readonly reachable: boolean;
  readonly identityOk: boolean;
  readonly presentedFingerprint: string | null;
  readonly chainSigned: boolean;
  readonly helloOk: boolean;
  readonly latencyMs: number | null;
  readonly error: string | null;
  /** Why the proxy could not connect (`descriptor-not-found`, `intro-failed`, …), or `null`. */
  readonly socksFailure: string | null;
}

/** Why an instance is an alarm: its identity is not the pinned one. */
export const ALARM_REASONS = {
  /** The device reports another fingerprint than the pin for the same instance and onion. */
  'fingerprint-changed': 'the device reports another fingerprint than the one pinned',
  /** The onion answered with a CA whose fingerprint is not the pin. */
  'wrong-fingerprint': 'the onion answered with another fingerprint than the one pinned',
  /** The pinned CA was presented but did not sign the server certificate. */
  'chain-not-signed': 'the server certificate is not signed by the pinned CA',
  /** The onion answered TLS without presenting a CA certificate. */
  'no-identity': 'the onion answered TLS without a CA certificate',
} as const;
export type AlarmReason = keyof typeof ALARM_REASONS;

export interface Alarm {
  readonly reason: AlarmReason;
  readonly message: string;
}

/**
 * One instance's verdict, worst first: `alarm` (identity not the pinned one) · `unreachable` (no
 * TLS session through Tor) · `degraded` (reachable, identity ok, but no valid server hello) ·
 * `not-reported` (no onion or fingerprint to probe yet) · `ok`.
 */
export type InstanceVerdict = 'alarm' | 'unreachable' | 'degraded' | 'not-reported' | 'ok';

/** A group's (and the fleet's) verdict: the worst of its instances', `not-reported` counting as degraded. */
export type GroupVerdict = 'alarm' | 'unreachable' | 'degraded' | 'ok';

export interface InstanceResult {
  readonly instance: string;
  readonly device: string;
  readonly group: string;
  readonly kind: InstanceKind;
  /** The onion, truncated (`abcdefgh…`); `null` when none is reported. */
  readonly onion: string | null;
  readonly verdict: InstanceVerdict;
  readonly alarms: readonly Alarm[];
  /** `null` when not probed. */
  readonly reachable: boolean | null;
  /** `null` when not probed or unreachable (nothing proved either way). */
  readonly identityOk: boolean | null;
  readonly helloOk: boolean | null;
  readonly latencyMs: number | null;
  /** The pinned fingerprint the probe checked against. */
  readonly expectedFingerprint: string | null;
  readonly presentedFingerprint: string | null;
  readonly reportedFingerprint: string | null;
  /** When the pin was made (this run, for a new pin). */
  readonly pinnedSince: string | null;
  /** Why it is unreachable or degraded, in a few words; `null` when ok. */
  readonly problem: string | null;
}

export interface GroupResult {
  readonly group: string;
  readonly verdict: GroupVerdict;
  readonly total: number;
  readonly reachable: number;
  readonly identityOk: number;
  readonly alarms: number;
  /** Over the instances with a full probe (hello read); `null` when there is none. */
  readonly latencyMs: { readonly median: number; readonly max: number } | null;
  /** The one-line verdict. */
  readonly summary: string;
  readonly instances: readonly InstanceResult[];
}

/** A device whose status could not be used (none yet, or one that does not verify). */
export interface DeviceProblem {
  readonly device: string;
  readonly problem: string;
}

export interface ProbeReport {
  readonly verdict: GroupVerdict;
  readonly groups: readonly GroupResult[];
  readonly devices: readonly DeviceProblem[];
  /** Instances pinned by this run. */
  readonly pinned: readonly string[];
}
