/**
 * One running SimpleX server double (test/doubles), initialised in its own temp directory and
 * started on a free loopback port: for tests that probe a real server process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { caFingerprint, type SimplexKind } from '#shared/crypto/fingerprint.ts';
import { freePort, stopChild, until } from './processes.ts';

const EXE: Record<SimplexKind, string> = {
  smp: fileURLToPath(new URL('../doubles/smp-server', import.meta.url)),
  xftp: fileURLToPath(new URL('../doubles/xftp-server', import.meta.url)),
};
const INI: Record<SimplexKind, string> = { smp: 'smp-server.ini', xftp: 'file-server.ini' };
const HOST = 'ajv3m4uu3oo5gzcqqgq3k7g4zxfk6icrqjgyhplorn6p5ufmwsftrlid.onion';

export interface RunningDouble {
  readonly kind: SimplexKind;
  readonly port: number;
  /** The fingerprint of its ca.crt. */
  readonly fingerprint: string;
  readonly child: ChildProcess;
  /** Its SMP_SERVER_LOG_PATH / XFTP_SERVER_LOG_PATH (where the metrics file is written). */
  readonly logDir: string;
  /** What it printed so far on stdout and stderr. */
  output(): string;
  /** SIGINT (a clean stop), then removes its directory. */
  stop(): Promise<void>;
}

/**
 * `init` then `start` a double; resolves once it printed its address and accepts TCP (deadline 15 s).
 * `prometheusInterval` sets `[STORE_LOG] prometheus_interval` (the metrics file in `logDir`);
 * `startEnv` is added to the environment of `start` (SIMPLEX_DOUBLE_FAULT, for fault injection).
 */
export async function startDouble(kind: SimplexKind, options: { prometheusInterval?: number; startEnv?: Readonly<Record<string, string>> } = {}): Promise<RunningDouble> {
  const root = await mkdtemp(join(tmpdir(), `onionfleet-${kind}-double-`));
  const prefix = kind === 'smp' ? 'SMP' : 'XFTP';
  const env = { [`${prefix}_SERVER_CFG_PATH`]: join(root, 'cfg'), [`${prefix}_SERVER_LOG_PATH`]: join(root, 'log') };
  const args = kind === 'smp' ? ['init', '-y', '-n', HOST, '--disable-web'] : ['init', '-n', HOST, '-p', join(root, 'files'), '-q', '1gb'];
  const init = spawnSync(EXE[kind], args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  if (init.status !== 0) throw new Error(`${kind} double init failed: ${init.stdout}${init.stderr}`);
  const port = await freePort();
  const ini = join(root, 'cfg', INI[kind]);
  let text = (await readFile(ini, 'utf8')).replace(/^port: .*$/m, `port: ${port}`);
  if (options.prometheusInterval !== undefined) text = text.replace(/^\[STORE_LOG\]$/m, `[STORE_LOG]\nprometheus_interval: ${options.prometheusInterval}`);
  await writeFile(ini, text);
  const fingerprint = caFingerprint(await readFile(join(root, 'cfg', 'ca.crt'), 'utf8'));
  const child = spawn(EXE[kind], ['start'], { env: { ...process.env, ...env, ...options.startEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  try {
    await until(`${kind} double to listen`, async () => {
      if (child.exitCode !== null) throw new Error(`${kind} double exited: ${out}`);
      return /^Server address: /m.test(out) && await accepts(port) ? true : null;
    });
  } catch (err) {
    await stopChild(child, 'SIGKILL');
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  return {
    kind, port, fingerprint, child, logDir: join(root, 'log'), output: () => out,
    stop: async () => {
      await stopChild(child, 'SIGINT');
      await rm(root, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => { resolve(false); });
  });
}

/**
 * Runs `<exe> start` of an initialised double and resolves once it says it serves `port` (its own
 * line, printed after it listens: on a busy machine another process may hold a port meanwhile) and
 * the port accepts. Throws when it exits first. The caller stops the child.
 */
export async function startDoubleProcess(exe: string, env: NodeJS.ProcessEnv, port: number): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(exe, ['start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const serving = [`Serving SMP protocol on port ${port} (TLS)`, `Listening on port ${port}...`];
  await until(`the double to serve port ${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`the double exited: ${out}`);
    return serving.some((line) => out.includes(line)) && await accepts(port) ? true : null;
  }, 60_000);
  return { child, out: () => out };
}
