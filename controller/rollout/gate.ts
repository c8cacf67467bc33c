/**
 * The health gate of one wave: whether each of its devices runs its new revision with every instance
 * healthy (the local TLS probe, and the agent's probe through its own tor where it reports one), has
 * failed (the agent went back by itself, or refused the revision), or is still on its way. Pure.
 */
import type { DeviceStatus } from '#shared/schema/status.ts';

export type DeviceGate =
  | { readonly device: string; readonly state: 'healthy' }
  | { readonly device: string; readonly state: 'waiting'; readonly reason: string }
  | { readonly device: string; readonly state: 'failed'; readonly instance: string | null; readonly reason: string };

export interface GateInput {
  readonly device: string;
  /** The revision the wave published to it. */
  readonly revision: number;
  /** Its last trusted status, or null (with `problem` saying why, when there was one). */
  readonly status: DeviceStatus | null;
  readonly problem?: string | null;
  /**
   * Also wait for the agent's probe of each onion through its own tor, where it reports one (default
   * true). Off for a wave of devices that served nothing yet: a new onion's descriptor takes minutes
   * to reach the network, and no member depends on it yet.
   */
  readonly onion?: boolean;
}

/** One device's gate. */
export function gateDevice(input: GateInput): DeviceGate {
  const { device, revision, status: s } = input;
  if (s === null) return { device, state: 'waiting', reason: input.problem ?? 'no status' };
  if (s.reverted != null && s.reverted.revision >= revision) {
    return { device, state: 'failed', instance: s.reverted.instance, reason: `went back to revision ${s.reverted.to} by itself: ${s.reverted.reason}` };
  }
  if (s.refused !== null && s.refused.revision >= revision) return { device, state: 'failed', instance: null, reason: `refused revision ${revision}: ${s.refused.reasons.join('; ')}` };
  if (s.desiredRevision < revision) return { device, state: 'waiting', reason: `still on revision ${s.desiredRevision}` };
  if (s.error !== null) return { device, state: 'waiting', reason: `error: ${s.error}` };
  if (s.blocked.length > 0) return { device, state: 'waiting', reason: `blocked: ${s.blocked.join('; ')}` };
  if (s.appliedRevision < revision || !s.converged) return { device, state: 'waiting', reason: `applying revision ${revision}` };
  const unhealthy = s.instances.filter((i) => !i.healthy).map((i) => i.id);
  if (unhealthy.length > 0) return { device, state: 'waiting', reason: `unhealthy: ${unhealthy.join(', ')}` };
  const onion = input.onion === false ? [] : s.instances.filter((i) => i.onionProbe != null && !(i.onionProbe.identityOk && i.onionProbe.helloOk)).map((i) => i.id);
  if (onion.length > 0) return { device, state: 'waiting', reason: `not reachable through tor yet: ${onion.join(', ')}` };
  return { device, state: 'healthy' };
}

export type WaveGate =
  | { readonly state: 'healthy'; readonly devices: readonly DeviceGate[] }
  | { readonly state: 'waiting'; readonly devices: readonly DeviceGate[]; readonly done: number }
  | { readonly state: 'failed'; readonly devices: readonly DeviceGate[]; readonly failure: Extract<DeviceGate, { state: 'failed' }> };

/** The wave's gate: failed at its first failed device (by id), healthy when every device is. */
export function gateWave(inputs: readonly GateInput[]): WaveGate {
  const devices = [...inputs].sort((a, b) => (a.device < b.device ? -1 : 1)).map(gateDevice);
  const failure = devices.find((d): d is Extract<DeviceGate, { state: 'failed' }> => d.state === 'failed');
  if (failure !== undefined) return { state: 'failed', devices, failure };
  const done = devices.filter((d) => d.state === 'healthy').length;
  return done === devices.length ? { state: 'healthy', devices } : { state: 'waiting', devices, done };
}
