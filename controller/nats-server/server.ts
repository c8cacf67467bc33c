/**
 * The controller's nats-server as a child process: start from a config file, wait for readiness by
 * its log, reload on SIGHUP, stop. The process is this object's resource: nothing else signals it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { EXIT, OnionfleetError, OperationFailedError, type ErrorOptions, InternalError } from '#shared/errors.ts';

export interface NatsServerOptions {
  /** The config file (see renderNatsConfig); it holds the port and the JetStream store dir. */
  readonly configPath: string;
  /** Default `nats-server`, looked up on PATH. */
  readonly binary?: string;
  /** Every log line of the server is appended here (the server logs to stderr). */
  readonly logFile?: string;
  /** How long to wait for "Server is ready". Default 10 000 ms. */
  readonly readyTimeoutMs?: number;
}

/** The nats-server binary is not installed (or not at the given path). Exit 1. */
export class NatsServerMissingError extends OnionfleetError {
  readonly code = 'nats-server-missing';
  readonly exitCode = EXIT.failed;
  constructor(binary: string, options: ErrorOptions = {}) {
    super(`cannot run ${binary}: not found`, { hint: 'install the development dependencies: bash deploy/dev-deps.sh', ...options });
  }
}

const READY = /Server is ready/;
const LISTENING = /Listening for client connections on 127\.0\.0\.1:(\d+)/;
const RELOADED = /Reloaded server configuration/;
const RELOAD_FAILED = /Failed to reload server configuration: (.*)$/;
const KEEP_LINES = 20;

type LineWaiter = (line: string) => void;

/** A running nats-server started by {@link NatsServer.start}. */
export class NatsServer {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  readonly #waiters: Set<LineWaiter>;
  readonly #recent: string[];
  #reloading: Promise<void> = Promise.resolve();

  private constructor(child: ChildProcess, pid: number, port: number, exited: Promise<void>, waiters: Set<LineWaiter>, recent: string[]) {
    this.#child = child;
    this.pid = pid;
    this.port = port;
    this.url = `nats://127.0.0.1:${port}`;
    this.#exited = exited;
    this.#waiters = waiters;
    this.#recent = recent;
  }

  /**
   * Spawns `<binary> -c <configPath>` and resolves once it logs "Server is ready", with the port it
   * listens on. Throws {@link NatsServerMissingError} when the binary cannot be found,
   * OperationFailedError `nats-log-unwritable` when the log file cannot be opened, and
   * OperationFailedError `nats-server-failed` (with the server's last log lines) when it exits or is
   * not ready by the deadline — the child is killed then, never left behind.
   */
  static async start(options: NatsServerOptions): Promise<NatsServer> {
    const binary = options.binary ?? 'nats-server';
    const deadlineMs = options.readyTimeoutMs ?? 10_000;
    const log = options.logFile === undefined ? undefined : await openLog(options.logFile);
    const child = spawn(binary, ['-c', options.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    const waiters = new Set<LineWaiter>();
    const recent: string[] = [];
    // Readiness is recorded as lines arrive, so a line read before anyone waits is not lost.
    const seen: { port: number | null; ready: boolean } = { port: null, ready: false };
    const onLine = (line: string): void => {
      log?.write(`${line}\n`);
      recent.push(line);
      if (recent.length > KEEP_LINES) recent.shift();
      const listening = LISTENING.exec(line);
      if (listening?.[1] !== undefined) seen.port = Number(listening[1]);
      if (READY.test(line)) seen.ready = true;
      for (const waiter of [...waiters]) waiter(line);
    };
    for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);
    const exited = new Promise<void>((resolve) => {
      child.once('close', () => {
        log?.end();
        resolve();
      });
    });
    let pid: number;
    try {
      pid = await new Promise<number>((resolve, reject) => {
        child.once('spawn', () => { resolve(child.pid ?? 0); });
        // `on`, not `once`: a later error (a failed kill) must not go unhandled.
        child.on('error', (err: NodeJS.ErrnoException) => {
          reject(err.code === 'ENOENT' || err.code === 'EACCES' ? new NatsServerMissingError(binary, { cause: err }) : err);
        });
      });
    } catch (err) {
      log?.end();
      throw err;
    }
    let port: number;
    try {
      if (!seen.ready) await waitForLine(waiters, exited, deadlineMs, 'to be ready', () => (seen.ready ? true : null));
      if (seen.port === null) throw new InternalError('nats-server never logged "Listening for client connections on 127.0.0.1:<port>"');
      port = seen.port;
    } catch (err) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      throw new OperationFailedError('nats-server-failed', `nats-server did not start: ${message(err)}\n${recent.join('\n')}`, {
        cause: err,
        hint: `check the config with: ${binary} -t -c ${options.configPath}`,
      });
    }
    return new NatsServer(child, pid, port, exited, waiters, recent);
  }

  /**
   * Sends SIGHUP and resolves once the server logs "Reloaded server configuration" (removed users
   * are disconnected by then). Throws OperationFailedError `nats-reload-failed` when the server
   * rejects the new config (it keeps running on the old one), exits, or does not answer in time.
   * Concurrent calls run one after the other.
   */
  reload(deadlineMs = 10_000): Promise<void> {
    const run = async (): Promise<void> => {
      const outcome = waitForLine(this.#waiters, this.#exited, deadlineMs, 'to reload its configuration', (line) => {
        if (RELOADED.test(line)) return { ok: true as const };
        const failed = RELOAD_FAILED.exec(line);
        return failed === null ? null : { ok: false as const, reason: failed[1] ?? line };
      });
      this.#child.kill('SIGHUP');
      let result: Awaited<typeof outcome>;
      try {
        result = await outcome;
      } catch (err) {
        throw new OperationFailedError('nats-reload-failed', `nats-server did not reload: ${message(err)}`, { cause: err });
      }
      if (!result.ok) {
        throw new OperationFailedError('nats-reload-failed', `nats-server refused the new configuration (still running the old one): ${result.reason}`);
      }
    };
    const next = this.#reloading.then(run, run);
    this.#reloading = next.catch(() => undefined);
    return next;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `deadlineMs`; resolves once it has exited. Never throws. */
  async stop(deadlineMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => { if (this.running) this.#child.kill('SIGKILL'); }, deadlineMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** SIGKILL at once (for fault tests): no shutdown, JetStream files as they are. */
  kill(): void {
    if (this.running) this.#child.kill('SIGKILL');
  }

  /** Resolves once the process has exited (for any reason). */
  exited(): Promise<void> {
    return this.#exited;
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The server's last log lines (for error messages). */
  recentLog(): readonly string[] {
    return [...this.#recent];
  }
}

/**
 * Resolves with the first non-null `match` of a log line from now on; rejects when the process exits
 * first or the deadline passes.
 */
function waitForLine<T>(waiters: Set<LineWaiter>, exited: Promise<void>, deadlineMs: number, what: string,
  match: (line: string) => T | null): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = (settle: () => void): void => {
      if (done) return;
      done = true;
      waiters.delete(waiter);
      clearTimeout(timer);
      settle();
    };
    const waiter: LineWaiter = (line) => {
      const value = match(line);
      if (value !== null) finish(() => { resolve(value); });
    };
    const timer = setTimeout(() => { finish(() => { reject(new Error(`timed out after ${deadlineMs} ms waiting for nats-server ${what}`)); }); }, deadlineMs);
    waiters.add(waiter);
    void exited.then(() => { finish(() => { reject(new Error(`nats-server exited while waiting for it ${what}`)); }); });
  });
}

/** Opens the log for appending; throws OperationFailedError `nats-log-unwritable` when it cannot. */
async function openLog(path: string): Promise<WriteStream> {
  try {
    const stream = (await open(path, 'a', 0o600)).createWriteStream();
    stream.on('error', () => undefined); // a full disk must not take the bus down; the server keeps running
    return stream;
  } catch (err) {
    throw new OperationFailedError('nats-log-unwritable', `cannot write the nats-server log ${path}: ${message(err)}`, { cause: err });
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
