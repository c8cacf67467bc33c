/**
 * Agent benchmark (issue 3): a cold apply of 10 SMP + 1 XFTP with the SimpleX doubles under a temp
 * root, then a no-op reconcile, and the agent process's peak RSS during a cold apply.
 * Targets: cold ≤ 5,000 ms, no-op ≤ 100 ms, RSS ≤ 80 MB.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { managersFor } from '../agent/cli/commands/shared.ts';
import { AgentConfig, resolveConfig } from '../agent/config.ts';
import { reconcile } from '../agent/reconcile/loop.ts';
import type { DesiredState } from '#shared/schema/desired-state.ts';
import { desiredState } from '../test/builders/desired.ts';
import { freePort, stopSupervised } from '../test/support/processes.ts';

const DOUBLES = new URL('../test/doubles/', import.meta.url).pathname;

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'onionfleet-bench-agent-'));
  const root = join(dir, 'root');
  const configJson = { root, services: 'supervisor', system: 'sandbox', binaries: { 'smp-server': join(DOUBLES, 'smp-server'), 'xftp-server': join(DOUBLES, 'xftp-server') } };
  const base = desiredState({ groups: [{ id: 'bench', smp: 10, xftp: 1 }] });
  const ports: number[] = [];
  while (ports.length < base.instances.length) ports.push(await freePort());
  const desired: DesiredState = { ...base, instances: base.instances.map((i, k) => ({ ...i, localPort: ports[k] ?? 0 })), firewall: { loopbackOnlyPorts: [...ports].sort((a, b) => a - b) } };
  return { dir, root, configJson, desired };
}

export async function agentApply(): Promise<Record<string, unknown>[]> {
  const s = await setup();
  const config = resolveConfig(AgentConfig.parse(s.configJson));
  const ctx = { config, ...managersFor(config) };
  let t0 = performance.now();
  const cold = await reconcile(s.desired, ctx);
  const coldMs = performance.now() - t0;
  t0 = performance.now();
  const noop = await reconcile(s.desired, ctx);
  const noopMs = performance.now() - t0;
  await stopSupervised(s.root);

  // Peak RSS of a separate agent process doing a cold apply: the single-file build, as it runs on a Pi.
  const bundle = join(mkdtempSync(join(tmpdir(), 'onionfleet-build-')), 'onionfleet-agent.mjs');
  await new Promise<void>((resolve, reject) => {
    spawn(process.execPath, [new URL('../deploy/build-agent.mjs', import.meta.url).pathname, bundle], { stdio: 'inherit' })
      .on('error', reject)
      .on('exit', (code) => {
        if (code === 0) resolve();
        else reject(new Error(`build-agent exited ${code}`));
      });
  });
  const r = await setup();
  const configPath = join(r.dir, 'agent.json');
  const desiredPath = join(r.dir, 'desired.json');
  writeFileSync(configPath, JSON.stringify(r.configJson));
  writeFileSync(desiredPath, JSON.stringify(r.desired));
  const rssMb = await peakRssOf(process.execPath, [bundle, 'apply', '--config', configPath, '--desired', desiredPath, '--json']);
  await stopSupervised(r.root);
  return [{ instances: s.desired.instances.length, converged: cold.converged && noop.steps.length === 0, coldMs: Math.round(coldMs), noopMs: Math.round(noopMs), rssMb }];
}

/** Runs a command to its end and returns its peak resident set size in MB (getrusage maxRSS). */
async function peakRssOf(command: string, args: string[]): Promise<number> {
  const file = join(mkdtempSync(join(tmpdir(), 'onionfleet-rss-')), 'maxrss');
  const preload = new URL('./report-peak-rss.cjs', import.meta.url).pathname;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: `--require ${preload}`, ONIONFLEET_RSS_FILE: file } });
    child.on('error', reject);
    child.on('exit', () => {
      resolve();
    });
  });
  return Math.round(Number(readFileSync(file, 'utf8')) / 1024);
}
