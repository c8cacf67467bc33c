/**
 * Agent RSS with metrics collection (issue 17), extending the agent benchmark: the single-file agent
 * (`onionfleet-agent run`, as on a Pi) runs 10 SMP + 1 XFTP doubles that rewrite their metrics files
 * every second, against a loopback `onionfleet serve`; with a 1-second heartbeat it collects the 11
 * files, writes the textfile and sends the sealed summary each round. After 30 rounds past the first
 * full collection, its RSS and peak RSS (VmRSS, VmHWM of the agent process alone) are read.
 * Target: peak ≤ 80 MB. Two runs: node's defaults (V8 collects lazily, so RSS keeps growing with
 * the rounds), and the settings deploy/onionfleet-agent.service runs the agent with on a Pi, read from
 * its Environment= lines (ONIONFLEET_NODE_FLAGS for node, MALLOC_ARENA_MAX, UV_THREADPOOL_SIZE).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentUnitSettings } from '../test/support/agent-unit.ts';
import { FleetHarness } from '../test/support/fleet-harness.ts';
import { stopChild, until } from '../test/support/processes.ts';

const ROUNDS = 30;

const VARIANTS: readonly { heap: string; flags: readonly string[]; env: Readonly<Record<string, string>> }[] = [
  { heap: 'default', flags: [], env: {} },
  { heap: 'as-the-unit-runs-it', ...agentUnitSettings() },
];

export async function agentMetrics(): Promise<Record<string, unknown>[]> {
  const bundle = join(mkdtempSync(join(tmpdir(), 'onionfleet-build-')), 'onionfleet-agent.mjs');
  await new Promise<void>((resolve, reject) => {
    spawn(process.execPath, [new URL('../deploy/build-agent.mjs', import.meta.url).pathname, bundle], { stdio: 'inherit' })
      .on('error', reject)
      .on('exit', (code) => { if (code === 0) resolve(); else reject(new Error(`build-agent exited ${String(code)}`)); });
  });
  const results: Record<string, unknown>[] = [];
  for (const v of VARIANTS) results.push(await measure(bundle, v.heap, v.flags, v.env));
  return results;
}

async function measure(bundle: string, heap: string, flags: readonly string[], env: Readonly<Record<string, string>>): Promise<Record<string, unknown>> {
  const h = await FleetHarness.create();
  try {
    await h.startServe();
    const device = await h.enroll('pi-1', { heartbeatSeconds: 1, metrics: { intervalSeconds: 1 } });
    const fleet = h.writeFleet([
      'version: 1', 'fleet: bench', 'operators: [{ id: alice }]',
      'devices: [{ id: pi-1, operator: alice, location: here, jurisdiction: DE, capacity: { maxInstances: 11 } }]',
      'groups: [{ id: bench, tier: standard, smp: 10, xftp: 1, members: [m] }]', 'members: [{ id: m, passphrase: true }]', '',
    ].join('\n'));
    const agent = spawn(process.execPath, [...flags, bundle, 'run', '--config', device.config], { stdio: 'ignore', env: { ...process.env, ...env } });
    try {
      const applied = await h.apply(fleet, '--wait', '--timeout', '180');
      if (applied.code !== 0) throw new Error(`apply failed: ${applied.stderr}`);
      const textfile = join(device.root, 'var/lib/onionfleet/metrics/onionfleet.prom');
      const reconciles = () => {
        if (!existsSync(textfile)) return null;
        const text = readFileSync(textfile, 'utf8');
        const infos = (text.match(/^simplex_(smp|xftp)_info\{/gm) ?? []).length;
        return { infos, reconciles: Number(/^onionfleet_agent_reconciles_total (\d+)$/m.exec(text)?.[1] ?? 0) };
      };
      const first = await until('all 11 metrics files collected', () => { const r = reconciles(); return r !== null && r.infos === 11 ? r : null; }, 120_000);
      await until(`${String(ROUNDS)} more rounds`, () => { const r = reconciles(); return r !== null && r.reconciles >= first.reconciles + ROUNDS ? r : null; }, 300_000);
      const status = readFileSync(`/proc/${String(agent.pid)}/status`, 'utf8');
      const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
      return { heap, instances: 11, metricsFiles: first.infos, rounds: ROUNDS, rssMb: Math.round(kb('VmRSS') / 1024), peakRssMb: Math.round(kb('VmHWM') / 1024), targetMb: 80 };
    } finally {
      await stopChild(agent, 'SIGTERM');
    }
  } finally {
    await h.stop();
  }
}
