/**
 * Every process the demo starts, and stopping exactly those. The demo owns them all: long-running
 * children (`onionfleet serve`, one `onionfleet-agent run` per simulated Pi) run in their own
 * process groups, so a terminal's Ctrl-C reaches only the demo, which then stops them in an order
 * that leaves nothing behind — agents first (so none starts another server), then the servers their
 * supervisors started (by the pid files), then `serve` (which stops its nats-server and, with
 * `--tor`, its tor); the `--tor` network stops its own tors last (./tor-network.ts). One-shot
 * commands run in the demo's group and are stopped when the demo is interrupted.
 *
 * Each child's output goes to `logs/<name>.log`; `demo.json` lists every pid started, directly or
 * through an agent, so a person or a test can check that none is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { DemoLayout } from './layout.ts';

/** The demo was interrupted (Ctrl-C, SIGTERM, SIGHUP); whatever ran has been asked to stop. */
export class DemoInterrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'DemoInterrupted';
  }
}

/** The outcome of a one-shot command. */
export interface StepRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Called with each line the command writes to stderr (progress), as it arrives. */
  readonly onLine?: (line: string) => void;
  /** The command prints secrets on stdout (an opened bundle): keep its stdout out of the log. */
  readonly secretStdout?: boolean;
}

/**
 * What a recorded process is. `tor`: one of the `--tor` network's tors (the network stops them);
 * `controller-tor`: the tor `serve --tor` started (serve stops it; {@link DemoProcesses.stopAll}
 * too, should serve have left it).
 */
export type Role = 'serve' | 'agent' | 'nats-server' | 'service' | 'tor' | 'controller-tor';
interface Recorded { readonly name: string; readonly role: Role; readonly pid: number }

const AGENT_STOP_MS = 20_000; // an agent finishes its current round (a server start may take seconds)
const SERVICE_STOP_MS = 10_000;
const SERVE_STOP_MS = 15_000;
const STEP_KILL_MS = 5_000;

/** The processes of one demo run: started, logged, recorded in `demo.json`, and stopped by pid. */
export class DemoProcesses {
  readonly #layout: DemoLayout;
  readonly #env: NodeJS.ProcessEnv;
  readonly #signal: AbortSignal;
  readonly #children = new Map<string, { child: ChildProcess; role: Role; exited: Promise<void> }>();
  readonly #recorded: Recorded[] = [];
  #devices: string[] = [];
  #writes: Promise<void> = Promise.resolve();

  /** @param signal aborts one-shot commands (the demo's Ctrl-C). */
  constructor(layout: DemoLayout, signal: AbortSignal) {
    this.#layout = layout;
    this.#signal = signal;
    // The same settings as the commands run in the demo's process (ONIONFLEET_PASSPHRASE), minus test hooks.
    this.#env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ONIONFLEET_TEST_')));
  }

  /** Which simulated devices' supervised servers {@link stopAll} stops (by their pid files). */
  setDevices(ids: readonly string[]): void {
    this.#devices = [...ids];
  }

  /**
   * Starts `node <bin> <args>` in its own process group with stdout and stderr appended to
   * `logs/<name>.log` (the file stays written even if the demo dies), and records its pid.
   */
  async start(name: string, role: 'serve' | 'agent', bin: string, args: readonly string[]): Promise<ChildProcess> {
    if (this.#signal.aborted) throw new DemoInterrupted();
    const log = await open(this.#layout.log(name), 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [bin, ...args], { detached: true, env: this.#env, stdio: ['ignore', log.fd, log.fd] });
    } finally {
      await log.close();
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
    child.on('error', () => undefined); // a failed spawn shows as an exit; a failed kill of a gone pid is fine
    if (child.pid === undefined) throw new Error(`could not start ${name}`);
    this.#children.set(name, { child, role, exited });
    await this.record(name, role, child.pid);
    return child;
  }

  /** True while the long-running child `name` runs. */
  running(name: string): boolean {
    const c = this.#children.get(name)?.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /**
   * Runs `node <bin> <args>` to its end, its output captured and appended to `logs/<name>.log`.
   * @throws {DemoInterrupted} when the demo is interrupted meanwhile (the command is stopped first).
   */
  async run(name: string, bin: string, args: readonly string[], options: RunOptions = {}): Promise<StepRun> {
    if (this.#signal.aborted) throw new DemoInterrupted();
    const log = createWriteStream(this.#layout.log(name), { flags: 'a', mode: 0o600 });
    log.on('error', () => undefined);
    log.write(`$ ${['node', bin, ...args].join(' ')}\n`);
    const child = spawn(process.execPath, [bin, ...args], { env: this.#env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (options.secretStdout !== true) log.write(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      const text = b.toString();
      stderr += text;
      log.write(b);
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) options.onLine?.(line);
    });
    const stop = () => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), STEP_KILL_MS).unref();
    };
    this.#signal.addEventListener('abort', stop, { once: true });
    try {
      const code = await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (c) => { resolve(c ?? -1); });
      });
      if (partial !== '') options.onLine?.(partial);
      // Read again: the signal may have aborted while the command ran.
      if (isAborted(this.#signal)) throw new DemoInterrupted();
      return { code, stdout, stderr };
    } finally {
      this.#signal.removeEventListener('abort', stop);
      await new Promise<void>((resolve) => log.end(resolve));
    }
  }

  /** Writes `demo.json` before anything starts: this directory is a demo's, and this process runs it. */
  begin(): Promise<void> {
    return this.#writeMarker();
  }

  /** Adds a process to `demo.json` (written atomically each time). */
  async record(name: string, role: Role, pid: number): Promise<void> {
    this.#recorded.push({ name, role, pid });
    await this.#writeMarker();
  }

  /** One write at a time, each with the record as it is then: the last write holds every pid. */
  #writeMarker(): Promise<void> {
    const next = this.#writes.then(() => this.#writeMarkerNow());
    this.#writes = next.catch(() => undefined);
    return next;
  }

  async #writeMarkerNow(): Promise<void> {
    const doc = { kind: 'onionfleet/demo', version: 1, dir: this.#layout.dir, demoPid: process.pid, processes: this.#recorded };
    await writeFileAtomic(this.#layout.marker, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o644 });
  }

  /**
   * Stops everything the demo started, in order: agents (SIGTERM), the servers their supervisors
   * started (SIGINT, by pid file, only while the pid still runs the recorded command), then `serve`
   * (SIGTERM), and the nats-server and the controller's tor should `serve` have left them. SIGKILL
   * after each deadline. The `--tor` network's own tors are the network's to stop (after this).
   * Returns how many processes were running and were stopped. Never throws.
   */
  async stopAll(): Promise<number> {
    let stopped = 0;
    const own = (role: Role) => [...this.#children.values()].filter((c) => c.role === role);
    const stopOwn = async (role: Role, signal: NodeJS.Signals, ms: number) => {
      const counts = await Promise.all(own(role).map((c) => stopChild(c, signal, ms)));
      stopped += counts.filter(Boolean).length;
    };
    await stopOwn('agent', 'SIGTERM', AGENT_STOP_MS);
    for (const id of this.#devices) {
      const services = await supervisedPids(this.#layout.device(id).runDir);
      for (const s of services) await this.record(`${id}/${s.name}`, 'service', s.pid).catch(() => undefined);
      const counts = await Promise.all(services.map((s) => stopPid(s.pid, s.command, 'SIGINT', SERVICE_STOP_MS)));
      stopped += counts.filter(Boolean).length;
    }
    await stopOwn('serve', 'SIGTERM', SERVE_STOP_MS);
    for (const r of this.#recorded.filter((x) => x.role === 'nats-server' || x.role === 'controller-tor')) {
      if (await stopPid(r.pid, r.role === 'nats-server' ? 'nats-server' : 'tor', 'SIGTERM', SERVICE_STOP_MS)) stopped++;
    }
    return stopped;
  }
}

/** Signals a child of ours and waits for its exit (SIGKILL after `ms`); true when it was running. */
async function stopChild(c: { child: ChildProcess; exited: Promise<void> }, signal: NodeJS.Signals, ms: number): Promise<boolean> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return false;
  c.child.kill(signal);
  const timer = setTimeout(() => c.child.kill('SIGKILL'), ms);
  await c.exited;
  clearTimeout(timer);
  return true;
}

/** The supervisor's pid files below a device root: `{pid, command}` per service. */
async function supervisedPids(runDir: string): Promise<{ name: string; pid: number; command: string }[]> {
  const out: { name: string; pid: number; command: string }[] = [];
  for (const file of (await readdir(runDir).catch(() => [])).sort()) {
    if (!file.endsWith('.pid')) continue;
    try {
      const rec = JSON.parse(await readFile(join(runDir, file), 'utf8')) as { pid?: unknown; command?: unknown };
      if (typeof rec.pid === 'number' && Number.isInteger(rec.pid) && rec.pid > 1 && typeof rec.command === 'string') out.push({ name: file.slice(0, -'.pid'.length), pid: rec.pid, command: rec.command });
    } catch {
      // a pid file being written or damaged: its process (if any) is not ours to guess at
    }
  }
  return out;
}

/**
 * Stops a process that is not our child: only while it runs and its command line still holds
 * `command` (a reused pid is left alone). SIGKILL after `ms`. True when it was running.
 */
async function stopPid(pid: number, command: string, signal: NodeJS.Signals, ms: number): Promise<boolean> {
  if (!(await runs(pid, command))) return false;
  kill(pid, signal);
  const deadline = Date.now() + ms;
  while (await runs(pid, command)) {
    if (Date.now() > deadline) {
      kill(pid, 'SIGKILL');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/** True while `pid` is alive (not a zombie) and its command line contains `command`. */
async function runs(pid: number, command: string): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null || stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes(command);
}

function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
