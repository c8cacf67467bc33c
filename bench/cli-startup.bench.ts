/**
 * CLI startup benchmark (issue 12): the wall time of whole commands of the installed package — built
 * by `npm pack`, installed with `npm install -g` into a temporary prefix — against the same commands
 * through the checkout's bins (TypeScript through tsx). Median of RUNS after one warm-up each.
 * Target: `onionfleet plan -f` on a one-device fleet ≤ 300 ms from the installed package.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const RUNS = 10;
const REPO = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/** `npm pack` (which builds the bundles) and `npm install -g` of the tarball, without a registry: the bin directory. */
async function packAndInstall(dir: string): Promise<string> {
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_'))), npm_config_cache: join(dir, 'npm-cache'), npm_config_registry: 'http://127.0.0.1:9/', npm_config_update_notifier: 'false' };
  const packed = await run('npm', ['pack', '--pack-destination', dir, '--json'], { cwd: REPO, env, maxBuffer: 16 << 20 });
  const [info] = JSON.parse(packed.stdout) as { filename: string }[];
  if (info === undefined) throw new Error(`npm pack printed no tarball: ${packed.stdout}`);
  const prefix = join(dir, 'prefix');
  await run('npm', ['install', '-g', join(dir, info.filename), '--prefix', prefix, '--offline', '--no-audit', '--no-fund'], { cwd: dir, env });
  return join(prefix, 'bin');
}

/** Median wall milliseconds of `file args…` run to its end (exit 0 required), from `cwd`. */
async function wallMs(file: string, args: readonly string[], cwd: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const t0 = performance.now();
    await run(file, args, { cwd });
    if (i > 0) times.push(performance.now() - t0);
  }
  return Math.round(median(times));
}

export async function cliStartup(): Promise<Record<string, unknown>[]> {
  const dir = mkdtempSync(join(tmpdir(), 'onionfleet-bench-startup-'));
  const bin = await packAndInstall(dir);
  const elsewhere = join(dir, 'elsewhere');
  mkdirSync(elsewhere);
  copyFileSync(join(REPO, 'deploy/examples/family.yaml'), join(elsewhere, 'one-device.yaml'));
  const plan = ['plan', '-f', 'one-device.yaml'];
  const checkout = { onionfleet: join(REPO, 'controller/cli/bin.js'), agent: join(REPO, 'agent/cli/bin.js') };
  return [
    {
      runs: RUNS,
      planOneDeviceMs: await wallMs(join(bin, 'onionfleet'), plan, elsewhere),
      versionMs: await wallMs(join(bin, 'onionfleet'), ['--version'], elsewhere),
      agentHelpMs: await wallMs(join(bin, 'onionfleet-agent'), ['--help'], elsewhere),
      tsxPlanOneDeviceMs: await wallMs(checkout.onionfleet, plan, elsewhere),
      tsxVersionMs: await wallMs(checkout.onionfleet, ['--version'], elsewhere),
      tsxAgentHelpMs: await wallMs(checkout.agent, ['--help'], elsewhere),
    },
  ];
}
