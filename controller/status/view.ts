/**
 * The fleet as the devices report it: each status opened with the controller's identity and
 * checked against the reporting device's own signing key. A status that does not verify is shown
 * as such, never trusted.
 */
import { EnvelopeError, open } from '#shared/crypto/envelope.ts';
import { getEntry } from '#shared/nats/kv.ts';
import type { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import { DeviceStatus } from '#shared/schema/status.ts';
import type { ControllerSession } from '../bus/session.ts';

export interface DeviceView {
  readonly device: string;
  readonly status: DeviceStatus | null;
  /** Why the status could not be trusted (bad signature, not for the controller, …). */
  readonly problem: string | null;
}

export async function openStatus(session: Pick<ControllerSession, 'secrets'>, record: EnrollmentRecord, value: Uint8Array): Promise<DeviceView> {
  try {
    const { body } = await open(value, { identity: session.secrets.ageIdentity, signer: record.signingKey, kind: 'status', device: record.device, schema: DeviceStatus });
    return { device: record.device, status: body, problem: null };
  } catch (err) {
    if (err instanceof EnvelopeError) return { device: record.device, status: null, problem: `unverifiable status (${err.reason})` };
    throw err;
  }
}

export async function readFleetStatus(session: ControllerSession, devices: readonly EnrollmentRecord[]): Promise<DeviceView[]> {
  const views: DeviceView[] = [];
  for (const record of devices) {
    const entry = await getEntry(session.status, record.device);
    views.push(entry === null ? { device: record.device, status: null, problem: 'no status reported yet' } : await openStatus(session, record, entry.value));
  }
  return views;
}

/** True when a device reports the revision, converged, with every instance healthy. */
export function isConverged(view: DeviceView, revision: number): boolean {
  const s = view.status;
  return s !== null && s.desiredRevision >= revision && s.appliedRevision >= revision && s.converged && s.instances.every((i) => i.healthy);
}

/** Why a device is not converged on `revision`, in a few words. */
export function notConvergedReason(view: DeviceView, revision: number): string {
  const s = view.status;
  if (s === null) return view.problem ?? 'no status';
  if (s.refused !== null && s.refused.revision >= revision) return `refused: ${s.refused.reasons.join('; ')}`;
  if (s.error !== null) return `error: ${s.error}`;
  if (s.blocked.length > 0) return `blocked: ${s.blocked.join('; ')}`;
  if (s.desiredRevision < revision) return `still on revision ${s.desiredRevision}`;
  const unhealthy = s.instances.filter((i) => !i.healthy).map((i) => i.id);
  if (unhealthy.length > 0) return `unhealthy: ${unhealthy.join(', ')}`;
  return 'converging';
}
