/**
 * The built-in supervisor, for hosts without systemd (development, tests, the demo). Processes run
 * detached, so they outlive a one-shot `onionfleet-agent apply`; a pid file per service (with the
 * process's command, to survive pid reuse) lets a later agent find, stop and restart them.
 * {@link Supervisor.watch} restarts crashed services with exponential backoff while an agent runs.
 */
import { pidAlive } from '#shared/os/live-process.ts';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { ServiceManager, ServiceSpec, ServiceState } from './service-manager.ts';
import { pollUntil, sleep } from '#shared/async/poll.ts';

const READY_DEADLINE_MS = 15_000;
const STOP_DEADLINE_MS = 10_000;
const POLL_MS = 25;

interface PidRecord {
  pid: number;
  command: string;
}

export class Supervisor implements ServiceManager {
  readonly kind = 'supervisor';
  /** Services to keep running (started and not stopped since), for {@link watch}. */
  private readonly specs = new Map<string, ServiceSpec>();
  /** Services being started or stopped right now: {@link watch} leaves them alone. */
  private readonly busy = new Set<string>();

  /** @param runDir where pid files live (below the agent's root). */
  constructor(private readonly runDir: string) {}

  async state(name: string): Promise<ServiceState> {
    return (await this.running(name)) === null ? 'inactive' : 'active';
  }

  async start(spec: ServiceSpec): Promise<void> {
    this.busy.add(spec.name);
    try {
      this.specs.set(spec.name, spec);
      await this.startProcess(spec);
    } finally {
      this.busy.delete(spec.name);
    }
  }

  private async startProcess(spec: ServiceSpec): Promise<void> {
    if ((await this.running(spec.name)) !== null) return;
    await mkdir(dirname(spec.logFile), { recursive: true, mode: 0o750 });
    const log = openSync(spec.logFile, 'a', 0o600);
    const child = spawn(spec.command, [...spec.args], {
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...spec.env },
      detached: true,
      stdio: ['ignore', 'ignore', log],
    });
    closeSync(log);
    const pid = child.pid;
    if (pid === undefined) throw new OperationFailedError('service-start-failed', `${spec.name}: could not start ${spec.command}`);
    const outcome: { exited: number | null } = { exited: null };
    child.on('exit', (code) => (outcome.exited = code ?? -1));
    child.unref();
    await mkdir(this.runDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.pidFile(spec.name), JSON.stringify({ pid, command: spec.command } satisfies PidRecord), { mode: 0o600 });
    // Ready when its port accepts a connection; failed if it exits first. A slow start is not a failure.
    await pollUntil(async () => {
      if (outcome.exited !== null) {
        await rm(this.pidFile(spec.name), { force: true });
        const tail = (await readFile(spec.logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' | ');
        throw new OperationFailedError('service-start-failed', `${spec.name} exited with code ${outcome.exited} while starting${tail ? `: ${tail}` : ''}`);
      }
      return (await accepts(spec.readyPort)) ? true : null;
    }, { timeoutMs: READY_DEADLINE_MS, intervalMs: POLL_MS });
  }

  async restart(spec: ServiceSpec): Promise<void> {
    this.busy.add(spec.name);
    try {
      await this.stopProcess(spec.name);
      this.specs.set(spec.name, spec);
      await this.startProcess(spec);
    } finally {
      this.busy.delete(spec.name);
    }
  }

  async stop(name: string): Promise<void> {
    this.busy.add(name);
    try {
      this.specs.delete(name);
      await this.stopProcess(name);
    } finally {
      this.busy.delete(name);
    }
  }

  private async stopProcess(name: string): Promise<void> {
    const rec = await this.running(name);
    if (rec !== null) {
      signal(rec.pid, 'SIGINT');
      if (!(await exitsWithin(rec.pid, STOP_DEADLINE_MS))) {
        signal(rec.pid, 'SIGKILL');
        await exitsWithin(rec.pid, STOP_DEADLINE_MS);
      }
    }
    await rm(this.pidFile(name), { force: true });
  }

  async daemonReload(): Promise<void> {
    // Nothing to reload: the supervisor reads no unit files.
  }

  /**
   * Until `signal` aborts, restarts services started through this supervisor that died, waiting
   * 1 s, 2 s, 4 s … (at most 60 s) between attempts for each.
   */
  async watch(signal: AbortSignal, onRestart: (name: string, error: unknown) => void = () => undefined): Promise<void> {
    const backoff = new Map<string, { next: number; wait: number }>();
    while (!signal.aborted) {
      for (const [name, spec] of [...this.specs]) {
        if (this.busy.has(name) || (await this.running(name)) !== null) continue;
        const b = backoff.get(name) ?? { next: 0, wait: 1000 };
        if (Date.now() < b.next) continue;
        try {
          this.busy.add(name);
          await this.startProcess(spec);
          backoff.delete(name);
          onRestart(name, null);
        } catch (err) {
          backoff.set(name, { next: Date.now() + b.wait, wait: Math.min(b.wait * 2, 60_000) });
          onRestart(name, err);
        } finally {
          this.busy.delete(name);
        }
      }
      await sleep(250, signal).catch(() => undefined); // an abort ends the loop above
    }
  }

  private pidFile(name: string): string {
    return join(this.runDir, `${name}.pid`);
  }

  /** The pid record when its process is alive and still runs the same command, else null. */
  private async running(name: string): Promise<PidRecord | null> {
    let rec: PidRecord;
    try {
      rec = JSON.parse(await readFile(this.pidFile(name), 'utf8')) as PidRecord;
    } catch {
      return null;
    }
    if (!pidAlive(rec.pid)) return null;
    const cmdline = await readFile(`/proc/${rec.pid}/cmdline`, 'utf8').catch(() => '');
    return cmdline.includes(rec.command) ? rec : null;
  }
}

/** Something listens on 127.0.0.1:`port` (a connect given `port` as its own local port opened to itself: no). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      const self = socket.localPort === port;
      socket.destroy();
      resolve(!self);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}


function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function exitsWithin(pid: number, ms: number): Promise<boolean> {
  return (await pollUntil(async () => (!pidAlive(pid) || (await isZombie(pid)) ? true : null), { timeoutMs: ms, intervalMs: POLL_MS })) !== null;
}

async function isZombie(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return / Z /.test(stat.slice(stat.lastIndexOf(')') + 1, stat.lastIndexOf(')') + 4));
}
