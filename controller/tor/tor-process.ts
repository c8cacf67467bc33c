/**
 * One tor as a child process, in a directory of its own (`torrc`, `data/` 0700, `notice.log`,
 * `control-port`): started, watched until bootstrapped, reloaded, stopped. Its control and SOCKS
 * ports are picked by tor (`auto`) and read back, so no other process can take them in between.
 * The process is this object's resource: nothing else signals it. Tor is told the pid of this Node
 * process (`__OwningControllerProcess`) and exits by itself if Node dies without stopping it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { TorControl } from './control-port.ts';
import { bootstrapProgress, parseQuotedList } from './control-reply.ts';
import { classifyExit, isProgressLine } from './tor-log.ts';
import { checkTorrcLines, parseControlPortFile, processLines, renderTorrc, type ProcessFiles } from './torrc.ts';
import { pollUntil } from '#shared/async/poll.ts';

export interface TorProcessOptions {
  /** For messages only. */
  readonly name: string;
  /** Its own directory: torrc, data/ (0700), notice.log and control-port are put here. Created if missing. */
  readonly dir: string;
  /** The caller's torrc lines (network options, HiddenService*, ClientOnionAuthDir…); see checkTorrcLines. */
  readonly lines: readonly string[];
  /** Lines kept ahead of `lines` across reloads (a private network's options); default none. */
  readonly baseLines?: readonly string[];
  /**
   * Give it a SOCKS port on 127.0.0.1 with Tor's extended error codes: true for any free one, a number
   * for that one (a tor started again where its clients know the port). Default false (`SocksPort 0`).
   */
  readonly socks?: boolean | number;
  /** Default `tor`, looked up on PATH. */
  readonly binary?: string;
  /** Default 180 000 ms. */
  readonly bootstrapTimeoutMs?: number;
  /** Resolve start() only once tor reports 100 % bootstrapped. Default true. */
  readonly waitForBootstrap?: boolean;
  /** Told every `Bootstrapped N%` line and every warning or error tor logs. */
  readonly onProgress?: (line: string) => void;
}

/** Where a running tor is: what a runtime file (e.g. `state/tor/runtime.json`) records. */
export interface TorProcessInfo {
  readonly pid: number;
  readonly socksPort: number | null;
  readonly controlPort: number;
  readonly torrcPath: string;
}

const KEEP_LINES = 30;
const CONTROL_PORT_TIMEOUT_MS = 30_000;

interface Launched {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<void>;
  readonly recent: string[];
}

/** A running tor started by {@link TorProcess.start}. */
export class TorProcess {
  readonly pid: number;
  readonly name: string;
  readonly dir: string;
  readonly torrcPath: string;
  /** The SOCKS port tor listens on (127.0.0.1), or null without `socks`. */
  readonly socksPort: number | null;
  /** The control port (127.0.0.1, cookie authentication). */
  readonly controlPort: number;
  readonly #launched: Launched;
  readonly #control: TorControl;
  readonly #options: TorProcessOptions;
  readonly #files: ProcessFiles;
  #lines: readonly string[];
  #reloading: Promise<void> = Promise.resolve();

  private constructor(o: TorProcessOptions, files: ProcessFiles, launched: Launched, control: TorControl, ports: { control: number; socks: number | null }) {
    this.#options = o;
    this.#files = files;
    this.#launched = launched;
    this.#control = control;
    this.#lines = o.lines;
    this.pid = launched.pid;
    this.name = o.name;
    this.dir = resolve(o.dir);
    this.torrcPath = join(this.dir, 'torrc');
    this.controlPort = ports.control;
    this.socksPort = ports.socks;
  }

  /**
   * Writes the torrc, spawns tor, connects to its control port and, unless `waitForBootstrap` is
   * false, waits for 100 % bootstrapped. Throws InvalidInputError for bad `lines` (nothing started),
   * and OperationFailedError (with tor's last log lines) `tor-missing` when the binary cannot be run,
   * `tor-dir-unwritable`, `tor-config-rejected`, `tor-port-in-use`, `tor-exited` when it exits early,
   * `tor-start-timeout` (no control port within 30 s), `tor-bootstrap-timeout`, or `tor-control-auth` — the child is killed then, never left behind.
   */
  static async start(o: TorProcessOptions): Promise<TorProcess> {
    checkTorrcLines(o.baseLines ?? [], `${o.name} torrc base lines`);
    checkTorrcLines(o.lines, `${o.name} torrc lines`);
    const dir = resolve(o.dir);
    const files: ProcessFiles = { dataDir: join(dir, 'data'), controlPortFile: join(dir, 'control-port'), noticeLog: join(dir, 'notice.log') };
    try {
      await mkdir(files.dataDir, { recursive: true, mode: 0o700 });
      await chmod(files.dataDir, 0o700); // tor refuses a DataDirectory others can read
      await rm(files.controlPortFile, { force: true }); // a stale file would name a dead tor's port
      await writeFileAtomic(join(dir, 'torrc'), renderTorrc(processLines(files, o.socks ?? false), o.baseLines ?? [], o.lines), { mode: 0o600 });
    } catch (err) {
      throw new OperationFailedError('tor-dir-unwritable', `cannot prepare ${dir} for tor ${o.name}: ${message(err)}`, { cause: err });
    }
    const launched = await launch(o, join(dir, 'torrc'));
    // Kills the child, waits for its last words, and explains why it did not come up.
    const fail = async (err: unknown): Promise<never> => {
      const exitedEarly = launched.child.exitCode !== null || launched.child.signalCode !== null;
      if (!exitedEarly) launched.child.kill('SIGKILL');
      await launched.exited;
      // A failure of its own (not the wait for tor, not the control port of a tor that died) stands as it is.
      const waiting = err instanceof OperationFailedError && (err.code === 'tor-exited' || err.code === 'tor-start-timeout' || (exitedEarly && err.code.startsWith('tor-control-')));
      if (err instanceof OperationFailedError && !waiting) throw err;
      const code = exitedEarly ? classifyExit(launched.recent) : 'tor-start-timeout';
      throw new OperationFailedError(code, `tor ${o.name} did not start: ${message(err)}\n${launched.recent.join('\n')}`, {
        cause: err,
        hint: code === 'tor-start-timeout' ? undefined : `check its configuration: ${o.binary ?? 'tor'} --verify-config -f ${join(dir, 'torrc')}`,
      });
    };
    let control: TorControl | undefined;
    let tor: TorProcess;
    try {
      const controlPort = await untilReady(launched, `its control port (${files.controlPortFile})`, CONTROL_PORT_TIMEOUT_MS,
        async () => parseControlPortFile(await readFile(files.controlPortFile, 'utf8').catch(() => '')));
      control = await TorControl.connect(controlPort);
      await control.addEvents('SIGNAL');
      const socksPort = o.socks === undefined || o.socks === false ? null : await readSocksPort(control);
      tor = new TorProcess(o, files, launched, control, { control: controlPort, socks: socksPort });
    } catch (err) {
      control?.close();
      return fail(err);
    }
    if (o.waitForBootstrap ?? true) {
      try {
        await tor.waitBootstrapped();
      } catch (err) {
        control.close();
        return fail(err);
      }
    }
    return tor;
  }

  /** The authenticated control connection (GETINFO, events such as HS_DESC); closed by {@link stop}. */
  get control(): TorControl {
    return this.#control;
  }

  /** Tor's last log lines (for messages). */
  recentLog(): readonly string[] {
    return [...this.#launched.recent];
  }

  /** pid, ports and torrc path, e.g. for a runtime file. */
  runtime(): TorProcessInfo {
    return { pid: this.pid, socksPort: this.socksPort, controlPort: this.controlPort, torrcPath: this.torrcPath };
  }

  /**
   * Resolves once `GETINFO status/bootstrap-phase` reports PROGRESS=100. Throws OperationFailedError
   * `tor-bootstrap-timeout` (with the last phase and log lines) at the deadline, or `tor-exited` when
   * tor exits first. Does not stop tor.
   */
  async waitBootstrapped(deadlineMs = this.#options.bootstrapTimeoutMs ?? 180_000): Promise<void> {
    let phase = 'unknown';
    try {
      await untilReady(this.#launched, 'bootstrap', deadlineMs, async () => {
        phase = (await this.#control.getinfo('status/bootstrap-phase')).get('status/bootstrap-phase') ?? phase;
        return bootstrapProgress(phase) === 100 ? true : null;
      }, 250);
    } catch (err) {
      const exited = !this.running;
      throw new OperationFailedError(exited ? classifyExit(this.#launched.recent) : 'tor-bootstrap-timeout',
        `tor ${this.name} did not bootstrap: ${message(err)} (last phase: ${phase})\n${this.#launched.recent.join('\n')}`, { cause: err });
    }
  }

  /**
   * Rewrites the torrc (with new caller `lines`, or the same ones: tor re-reads its onion services'
   * `authorized_clients/` too), checks it with `tor --verify-config` first — tor exits on a bad config
   * at SIGHUP — then sends SIGHUP and resolves once tor reports `650 SIGNAL RELOAD`, which it emits
   * only after the new configuration is in force. Throws InvalidInputError for bad `lines`,
   * OperationFailedError `tor-config-rejected` (torrc and tor left as they were) when tor refuses the
   * new config, and `tor-reload-failed` when tor exits or does not confirm within `deadlineMs`.
   * Concurrent calls run one after the other.
   */
  reload(lines?: readonly string[], deadlineMs = 30_000): Promise<void> {
    const run = async (): Promise<void> => {
      if (lines !== undefined) checkTorrcLines(lines, `${this.name} torrc lines`);
      const next = lines ?? this.#lines;
      const candidate = join(this.dir, 'torrc.next');
      await writeFileAtomic(candidate, renderTorrc(processLines(this.#files, this.#options.socks ?? false), this.#options.baseLines ?? [], next), { mode: 0o600 });
      try {
        await verifyConfig(this.#options.binary ?? 'tor', candidate);
      } catch (err) {
        await rm(candidate, { force: true });
        throw err;
      }
      await rename(candidate, this.torrcPath);
      this.#lines = next;
      const confirmed = this.#control.waitForEvent('tor to confirm the reload', (e) => (e.type === 'SIGNAL' && e.text.startsWith('RELOAD') ? true : null), deadlineMs);
      this.#launched.child.kill('SIGHUP');
      try {
        await confirmed;
      } catch (err) {
        throw new OperationFailedError('tor-reload-failed', `tor ${this.name} did not reload: ${message(err)}\n${this.#launched.recent.join('\n')}`, { cause: err });
      }
    };
    const next = this.#reloading.then(run, run);
    this.#reloading = next.catch(() => undefined);
    return next;
  }

  /** SIGTERM, then SIGKILL if tor has not exited within `deadlineMs`; resolves once it has exited. Never throws. */
  async stop(deadlineMs = 10_000): Promise<void> {
    const { child, exited } = this.#launched;
    if (this.running) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => { if (this.running) child.kill('SIGKILL'); }, deadlineMs);
      await exited;
      clearTimeout(timer);
    }
    this.#control.close();
    await exited;
  }

  /** Resolves once the process has exited (for any reason) and its output is read. */
  exited(): Promise<void> {
    return this.#launched.exited;
  }

  /** The signal that ended the process (SIGSEGV: tor crashed), or null while it runs or after a plain exit. */
  get exitSignal(): NodeJS.Signals | null {
    return this.#launched.child.signalCode;
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.#launched.child.exitCode === null && this.#launched.child.signalCode === null;
  }
}

/** Spawns tor; rejects with OperationFailedError `tor-missing` when the binary cannot be run. */
async function launch(o: TorProcessOptions, torrcPath: string): Promise<Launched> {
  const binary = o.binary ?? 'tor';
  // An empty defaults file: the host's /etc/tor/torrc-defaults must not leak into this tor.
  const args = ['-f', torrcPath, '--defaults-torrc', '/dev/null', '--__OwningControllerProcess', String(process.pid)];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const recent: string[] = [];
  const onLine = (line: string): void => {
    recent.push(line);
    if (recent.length > KEEP_LINES) recent.shift();
    if (o.onProgress !== undefined && isProgressLine(line)) o.onProgress(line);
  };
  for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);
  const exited = new Promise<void>((resolve) => { child.once('close', () => { resolve(); }); });
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => { resolve(child.pid ?? 0); });
    // `on`, not `once`: a later error (a failed kill) must not go unhandled.
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' || err.code === 'EACCES'
        ? new OperationFailedError('tor-missing', `cannot run ${binary}: ${err.code === 'ENOENT' ? 'not found' : 'permission denied'}`, {
          cause: err,
          hint: 'install tor: bash deploy/dev-deps.sh',
        })
        : new OperationFailedError('tor-exited', `cannot start ${binary}: ${message(err)}`, { cause: err }));
    });
  });
  return { child, pid, exited, recent };
}

/** Polls `check` until it returns a value; rejects when tor exits first or at the deadline. */
async function untilReady<T>(launched: Launched, what: string, deadlineMs: number, check: () => Promise<T | null>, intervalMs = 50): Promise<T> {
  const state = { gone: false };
  void launched.exited.then(() => { state.gone = true; });
  const gone = (): OperationFailedError => new OperationFailedError('tor-exited', `tor exited (${launched.child.exitCode ?? launched.child.signalCode ?? '?'}) while waiting for ${what}`);
  const value = await pollUntil(async () => {
    if (state.gone) throw gone();
    return check().catch((err: unknown) => {
      if (state.gone) throw gone();
      throw err;
    });
  }, { timeoutMs: deadlineMs, intervalMs });
  if (value === null) throw new OperationFailedError('tor-start-timeout', `timed out after ${deadlineMs} ms waiting for ${what}`);
  return value;
}

/** The SOCKS port from `GETINFO net/listeners/socks` (`"127.0.0.1:<port>"`). */
async function readSocksPort(control: TorControl): Promise<number> {
  const value = (await control.getinfo('net/listeners/socks')).get('net/listeners/socks') ?? '';
  const listener = parseQuotedList(value)?.find((l) => l.startsWith('127.0.0.1:'));
  const port = Number(listener?.slice('127.0.0.1:'.length));
  if (!Number.isInteger(port) || port <= 0) throw new OperationFailedError('tor-control-failed', `tor reports no SOCKS listener on 127.0.0.1 (${value || 'none'})`);
  return port;
}

/** Runs `tor --verify-config`; throws OperationFailedError `tor-config-rejected` with tor's complaint. */
function verifyConfig(binary: string, torrcPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(binary, ['--verify-config', '-f', torrcPath, '--defaults-torrc', '/dev/null'], { timeout: 30_000 }, (err, stdout) => {
      if (err === null) {
        resolve();
        return;
      }
      const complaint = stdout.split('\n').filter((l) => /\[(?:warn|err)\]/.test(l) && !/running Tor as root/.test(l));
      reject(new OperationFailedError('tor-config-rejected', `tor refuses the new configuration (still running the old one):\n${complaint.join('\n') || err.message}`, { cause: err }));
    });
  });
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
