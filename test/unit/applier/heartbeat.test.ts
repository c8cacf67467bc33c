import { describe, expect, it } from 'vitest';
import { REPAIR_EVERY_SECONDS } from '../../../agent/applier/client.ts';
import { heartbeatRequest, type HeartbeatFacts } from '../../../agent/applier/heartbeat.ts';

/** A settled device: the same document, converged and healthy, applied a minute ago, asked a second ago. */
const settled: HeartbeatFacts = {
  sameDocument: true, converged: true, error: null, healthy: true,
  sinceAppliedMs: 60_000, sinceApplierMs: 1_000, metricsIntervalSeconds: 60,
};

describe('what a heartbeat asks of the applier', () => {
  it('asks nothing of a settled device until its metrics interval has passed, then only a fresh view', () => {
    expect(heartbeatRequest(settled)).toBe('nothing');
    expect(heartbeatRequest({ ...settled, sinceApplierMs: 59_999 })).toBe('nothing');
    expect(heartbeatRequest({ ...settled, sinceApplierMs: 60_000 })).toBe('refresh');
  });

  it('runs a full round at least every REPAIR_EVERY_SECONDS, so a file edited by hand is repaired', () => {
    expect(heartbeatRequest({ ...settled, sinceAppliedMs: REPAIR_EVERY_SECONDS * 1000 - 1 })).toBe('nothing');
    expect(heartbeatRequest({ ...settled, sinceAppliedMs: REPAIR_EVERY_SECONDS * 1000 })).toBe('apply');
  });

  it.each([
    ['a new document', { sameDocument: false }],
    ['a round that did not converge', { converged: false }],
    ['a round that failed', { error: 'tor refused its config' }],
    ['an unhealthy instance (a service stopped by hand)', { healthy: false }],
  ] as const)('runs a full round at once after %s', (_, change) => {
    expect(heartbeatRequest({ ...settled, ...change })).toBe('apply');
  });
});
