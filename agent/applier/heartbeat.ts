/**
 * What a heartbeat asks of the applier (the agent behind its applier, agent/run.ts). Each request
 * starts a root process that observes the whole device (seconds on a Pi), so a heartbeat that brings
 * nothing new skips the full round while the last one converged and the status is healthy, for up to
 * REPAIR_EVERY_SECONDS; in between it only asks for a fresh view (the servers' metrics files) and the
 * due backups, once per metrics interval.
 */
import { REPAIR_EVERY_SECONDS } from './client.ts';

export interface HeartbeatFacts {
  /** The document is byte for byte the one the applier last made the device match. */
  readonly sameDocument: boolean;
  /** That round converged, with no error, and the last status had every instance healthy. */
  readonly converged: boolean;
  readonly error: string | null;
  readonly healthy: boolean;
  /** Milliseconds since that full round, and since the applier last answered anything. */
  readonly sinceAppliedMs: number;
  readonly sinceApplierMs: number;
  readonly metricsIntervalSeconds: number;
}

/** `apply`: a full round; `refresh`: the view and due backups only; `nothing`: no request at all. */
export type HeartbeatRequest = 'apply' | 'refresh' | 'nothing';

export function heartbeatRequest(f: HeartbeatFacts): HeartbeatRequest {
  const settled = f.sameDocument && f.converged && f.error === null && f.healthy;
  if (!settled || f.sinceAppliedMs >= REPAIR_EVERY_SECONDS * 1000) return 'apply';
  return refreshDue(f) ? 'refresh' : 'nothing';
}

/** A fresh view is due once per metrics interval (also when nothing is applied: a refused document). */
export function refreshDue(f: Pick<HeartbeatFacts, 'sinceApplierMs' | 'metricsIntervalSeconds'>): boolean {
  return f.sinceApplierMs >= f.metricsIntervalSeconds * 1000;
}
