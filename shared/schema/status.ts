/**
 * What one device reports: signed by the device, encrypted to the controller, put on the bus as
 * `status.<device>` (and re-put as a heartbeat). Pure.
 */
import { z } from 'zod';
import { Id } from './common.ts';
import { InstanceId, InstanceKind } from './desired-state.ts';
import { MetricsSummary } from './metrics-summary.ts';

export const ProbeResult = z.object({
  reachable: z.boolean(),
  identityOk: z.boolean(),
  helloOk: z.boolean(),
  latencyMs: z.number().nullable(),
  error: z.string().nullable(),
});

/**
 * The agent's own probe of an instance's onion through the device's tor (`tor.selfProbe`): run in
 * the background at most once per heartbeat, so it may be up to one heartbeat old.
 */
export const OnionProbeResult = ProbeResult.extend({
  /** Tor's refusal when the SOCKS connection failed (`descriptor-not-found`, `intro-failed`, …). */
  socksFailure: z.string().nullable(),
  /** When the probe ran (ISO 8601). */
  checkedAt: z.string(),
});
export type OnionProbeResult = z.infer<typeof OnionProbeResult>;

export const InstanceStatus = z.object({
  id: InstanceId,
  kind: InstanceKind,
  group: Id,
  service: z.enum(['active', 'inactive', 'failed']),
  onion: z.string().nullable(),
  fingerprint: z.string().nullable(),
  /** `smp://<fp>:<password>@<onion>`: only ever inside the encrypted status. */
  address: z.string().nullable(),
  probe: ProbeResult.nullable(),
  /**
   * The self-probe through the device's tor; `null` when it is off or has not run yet, absent from
   * agents that predate it.
   */
  onionProbe: OnionProbeResult.nullable().optional(),
  healthy: z.boolean(),
});
export type InstanceStatus = z.infer<typeof InstanceStatus>;

export const DeviceStatus = z.object({
  kind: z.literal('onionfleet/status'),
  version: z.literal(1),
  device: Id,
  /** The desired revision the agent last acted on (observed-generation pattern), 0 before any. */
  desiredRevision: z.int().min(0),
  /** The revision the device converged on. */
  appliedRevision: z.int().min(0),
  converged: z.boolean(),
  /** A desired state the agent would not apply, and why (owner's limits, bad signature, old revision…). */
  refused: z.object({ revision: z.int().min(0), reasons: z.array(z.string()) }).nullable(),
  /** The last error applying, if the last attempt failed. */
  error: z.string().nullable(),
  blocked: z.array(z.string()),
  instances: z.array(InstanceStatus),
  /** When the agent observed this (ISO 8601). */
  observedAt: z.string(),
  /**
   * The device's SSH onion (`<56>.onion`) when it takes SSH over Tor, else null: the controller gives
   * the admin's tor the client key for it. Only ever inside the encrypted status. Absent from older agents.
   */
  sshOnion: z.string().regex(/^[a-z2-7]{56}\.onion$/).nullable().optional(),
  agentVersion: z.string(),
  /** The agent's metrics summary (agent/metrics/); absent from agents that predate it. */
  metrics: MetricsSummary.optional(),
  /**
   * The agent could not bring `revision` to health within its deadline and went back by itself to
   * `to`, its last good revision; `instance` names the first instance that failed, when one did.
   * Absent from agents that predate it (docs/rollouts.md).
   */
  reverted: z.object({ revision: z.int().min(1), to: z.int().min(0), instance: z.string().nullable(), reason: z.string(), at: z.string() }).nullable().optional(),
});
export type DeviceStatus = z.infer<typeof DeviceStatus>;
