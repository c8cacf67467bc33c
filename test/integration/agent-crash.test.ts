/**
 * Crash safety: the agent killed (SIGKILL) right after each step of a cold apply, then started
 * again, converges to a healthy device; and a third run has nothing left to do.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { desiredState } from '../builders/desired.ts';
import { BIN, runBin } from '../support/cli.ts';
import { freePort, stopSupervised } from '../support/processes.ts';

const DOUBLES = new URL('../doubles/', import.meta.url).pathname;
const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await stopSupervised(root);
}, 60_000);

async function device() {
  const dir = mkdtempSync(join(tmpdir(), 'onionfleet-crash-'));
  const root = join(dir, 'root');
  roots.push(root);
  const config = join(dir, 'agent.json');
  writeFileSync(config, JSON.stringify({ root, services: 'supervisor', system: 'sandbox', binaries: { 'smp-server': join(DOUBLES, 'smp-server'), 'xftp-server': join(DOUBLES, 'xftp-server') } }));
  const base = desiredState({ tier: 'elevated', groups: [{ id: 'crash', tier: 'elevated', smp: 1, xftp: 1 }] });
  const ports = [await freePort(), await freePort()];
  const desired = { ...base, instances: base.instances.map((i, k) => ({ ...i, localPort: ports[k] ?? 0 })), firewall: { loopbackOnlyPorts: [22, ...ports].sort((a, b) => a - b) } };
  const path = join(dir, 'desired.json');
  writeFileSync(path, JSON.stringify(desired));
  return { root, config, path };
}

const apply = (d: { config: string; path: string }, env: Record<string, string> = {}, ...extra: string[]) =>
  runBin(BIN.agent, ['apply', '--config', d.config, '--desired', d.path, '--json', ...extra], { env });

// The cold apply's steps, plus one round that records the revision.
const probe = await device();
const planned = (JSON.parse((await apply(probe, {}, '--dry-run')).stdout) as { steps: string[] }).steps;
const indexes = Array.from({ length: planned.length + 1 }, (_, i) => i);

describe('onionfleet-agent apply survives being killed at any step', () => {
  it('plans a cold apply of more than ten steps', () => {
    expect(planned.length).toBeGreaterThan(10);
  });

  it.concurrent.each(indexes)('killed after step %i, then restarted: converges and stays converged', async (index) => {
    const d = await device();
    const crashed = await apply(d, { ONIONFLEET_TEST_CRASH_AFTER_STEP: String(index) });
    expect(crashed.signal).toBe('SIGKILL');
    const recovered = await apply(d);
    expect(recovered.stderr).toBe('');
    expect(JSON.parse(recovered.stdout)).toMatchObject({ converged: true });
    const idle = await apply(d);
    expect(JSON.parse(idle.stdout)).toMatchObject({ converged: true, steps: [] });
    const status = await runBin(BIN.agent, ['status', '--config', d.config, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ appliedRevision: 1, healthy: 2, total: 2 });
  }, 120_000);
});
