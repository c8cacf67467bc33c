/**
 * The installable package (issue 12): `npm pack` builds the bundles (prepack) into a tarball that
 * holds no TypeScript and no test code but the SimpleX doubles the demo runs; installed with
 * `npm install -g` without any registry, its bins work from any directory and need no node_modules.
 * Startup times are measured by bench/cli-startup.bench.ts, not here.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** npm's environment without what an `npm test` around us set, and with a registry that does not answer. */
function npmEnv(cache: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  return { ...env, npm_config_cache: cache, npm_config_registry: 'http://127.0.0.1:9/', npm_config_update_notifier: 'false' };
}

interface Installed {
  readonly files: readonly string[];
  readonly prefix: string;
  /** A directory outside the checkout. */
  readonly elsewhere: string;
}

let installed: Installed;

beforeAll(async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'onionfleet-package-'));
  const env = npmEnv(join(tmp, 'npm-cache'));
  const packed = await run('npm', ['pack', '--pack-destination', tmp, '--json'], { cwd: REPO, env, maxBuffer: 16 << 20 });
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  if (info === undefined) throw new Error(`npm pack printed no tarball: ${packed.stdout}`);
  const prefix = join(tmp, 'prefix');
  const elsewhere = join(tmp, 'elsewhere');
  mkdirSync(elsewhere);
  await run('npm', ['install', '-g', join(tmp, info.filename), '--prefix', prefix, '--offline', '--no-audit', '--no-fund'], { cwd: elsewhere, env });
  installed = { files: info.files.map((f) => f.path), prefix, elsewhere };
}, 180_000);

/** Runs an installed bin as a shell would (its `#!/usr/bin/env node` line), from outside the checkout. */
async function bin(name: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(join(installed.prefix, 'bin', name), args, { cwd: installed.elsewhere });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const packageDir = () => join(installed.prefix, 'lib', 'node_modules', 'onionfleet');

describe('the tarball', () => {
  it('holds the bins, the bundles and the files they use, and no TypeScript', () => {
    const files = installed.files;
    for (const f of ['package.json', 'LICENSE', 'README.md', 'controller/cli/bin.js', 'agent/cli/bin.js', 'deploy/dist/controller/onionfleet.mjs',
      'deploy/dist/onionfleet-agent.mjs', 'deploy/install-agent.sh', 'deploy/onionfleet-agent.service', 'deploy/onionfleet-apply.socket', 'deploy/onionfleet-apply@.service', 'deploy/onionfleet-hold.service', 'deploy/examples/newsroom.yaml',
      'test/doubles/smp-server', 'test/doubles/xftp-server']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => /\.(c|m)?ts$/.test(f))).toEqual([]);
    // Of the tests, only the SimpleX test doubles, which `onionfleet demo` runs.
    expect(files.filter((f) => f.startsWith('test/') && !f.startsWith('test/doubles/'))).toEqual([]);
    expect(files.filter((f) => f.includes('node_modules'))).toEqual([]);
    expect(readFileSync(join(REPO, 'LICENSE'), 'utf8')).toMatch(/^GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007/);
  });
});

describe('the installed package', () => {
  it('needs no runtime dependencies', () => {
    const pkg = JSON.parse(readFileSync(join(packageDir(), 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg['dependencies']).toBeUndefined();
    expect(existsSync(join(packageDir(), 'node_modules'))).toBe(false);
    expect(readdirSync(join(packageDir(), 'controller', 'cli'))).toEqual(['bin.js']);
  });

  it('onionfleet --version', async () => {
    const r = await bin('onionfleet', ['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('onionfleet validate and plan an example fleet', async () => {
    const fleet = join(installed.elsewhere, 'family.yaml');
    copyFileSync(join(packageDir(), 'deploy', 'examples', 'family.yaml'), fleet);
    const valid = await bin('onionfleet', ['validate', '-f', join(packageDir(), 'deploy', 'examples', 'newsroom.yaml')]);
    expect(valid.code).toBe(0);
    expect(valid.stdout).toMatch(/newsroom\.yaml: valid — fleet acme-press/);
    const plan = await bin('onionfleet', ['plan', '-f', fleet]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/fleet family-garcia: feasible — 11 instances on 1 device \(/);
    const invalid = await bin('onionfleet', ['validate', '-f', join(installed.elsewhere, 'missing.yaml')]);
    expect(invalid.code).toBe(2);
  });

  it('device add --ssh finds the agent bundle, its installer and unit inside the package', async () => {
    // No --operator: refused before any connection, naming every problem, and none of them a missing file.
    const r = await bin('onionfleet', ['device', 'add', '--id', 'pi-1', '--ssh', 'root@127.0.0.1', '--state', join(installed.elsewhere, 'state')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--operator: required with --ssh/);
    expect(r.stderr).not.toMatch(/no agent bundle|missing from this checkout|internal error/);
  });

  it('onionfleet-agent --help', async () => {
    const r = await bin('onionfleet-agent', ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: onionfleet-agent/);
    expect(r.stdout).toMatch(/\bapply\b/);
  });
});
