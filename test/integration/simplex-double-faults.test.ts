/**
 * Fault injection in the SimpleX doubles (SIMPLEX_DOUBLE_FAULT), for rollout tests and drills: a
 * server whose ini holds the marker refuses to start, or completes TLS but never sends its hello (so
 * the identity probe fails while the process stays up); without the marker it behaves as ever.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { probeIdentity } from '#shared/probes/tls-identity.ts';
import { startDouble, type RunningDouble } from '../support/simplex-server.ts';

const running: RunningDouble[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop();
});

const probe = (d: RunningDouble) => probeIdentity({ kind: d.kind, fingerprint: d.fingerprint, host: '127.0.0.1', port: d.port, timeoutMs: 10_000 });

describe('SIMPLEX_DOUBLE_FAULT', () => {
  it.each(['smp', 'xftp'] as const)('%s: fail-hello with a marker the ini holds: TLS completes, no hello', async (kind) => {
    const d = await startDouble(kind, { startEnv: { SIMPLEX_DOUBLE_FAULT: 'fail-hello:[TRANSPORT]' } });
    running.push(d);
    const result = await probe(d);
    expect(result.reachable).toBe(true);
    expect(result.helloOk).toBe(false);
    expect(d.child.exitCode).toBeNull();
  });

  it('fail-hello with a marker the ini does not hold changes nothing', async () => {
    const d = await startDouble('xftp', { startEnv: { SIMPLEX_DOUBLE_FAULT: 'fail-hello:storage_quota: 13gb' } });
    running.push(d);
    expect(await probe(d)).toMatchObject({ reachable: true, identityOk: true, helloOk: true });
  });

  it('refuse-start: start exits 1 saying the fault was injected', async () => {
    await expect(startDouble('smp', { startEnv: { SIMPLEX_DOUBLE_FAULT: 'refuse-start' } })).rejects.toThrow(/smp double exited: [\s\S]*refusing to start \(fault injected by SIMPLEX_DOUBLE_FAULT\)/);
  });
});
