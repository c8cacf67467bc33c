/**
 * A small client for tor's control port (control-spec): connect on loopback, authenticate with the
 * cookie file PROTOCOLINFO names, then GETINFO, SIGNAL, SETEVENTS and waits for events. Commands are
 * pipelined; tor answers them in order. Replies may name onion addresses: callers keep them out of logs.
 */
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { OperationFailedError } from '#shared/errors.ts';
import { isEvent, parseGetinfo, parseProtocolInfo, ReplyAssembler, replyText, type ControlReply } from './control-reply.ts';

/** An asynchronous event (`650 …`): its type (the first word) and its lines' texts. */
export interface ControlEvent {
  readonly type: string;
  /** The first line without the type, e.g. `UPLOADED <address> …` for HS_DESC. */
  readonly text: string;
  readonly reply: ControlReply;
}

interface Pending {
  readonly resolve: (reply: ControlReply) => void;
  readonly reject: (err: Error) => void;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** An authenticated control connection; see the module comment. */
export class TorControl {
  readonly #socket: Socket;
  readonly #pending: Pending[] = [];
  readonly #listeners = new Set<(event: ControlEvent) => void>();
  readonly #events = new Set<string>();
  readonly #closed: Promise<void>;
  #error: Error | null = null;

  private constructor(socket: Socket) {
    this.#socket = socket;
    const assembler = new ReplyAssembler();
    createInterface({ input: socket, crlfDelay: Infinity }).on('line', (line) => {
      let reply: ControlReply | null;
      try {
        reply = assembler.push(line);
      } catch (err) {
        this.#fail(new OperationFailedError('tor-control-failed', 'tor sent a malformed control-port reply', { cause: err }));
        return;
      }
      if (reply !== null) this.#dispatch(reply);
    });
    this.#closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#fail(new OperationFailedError('tor-control-closed', 'the tor control connection closed'));
        resolve();
      });
    });
    socket.on('error', (err) => { this.#fail(new OperationFailedError('tor-control-closed', `the tor control connection failed: ${err.message}`, { cause: err })); });
  }

  /**
   * Connects to 127.0.0.1:`port` and authenticates with the cookie file tor names in PROTOCOLINFO.
   * Throws OperationFailedError `tor-control-unreachable` when nothing answers within `timeoutMs`,
   * `tor-control-auth` when tor offers no cookie or refuses it.
   */
  static async connect(port: number, timeoutMs = 10_000): Promise<TorControl> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`no answer within ${timeoutMs} ms`)); }, timeoutMs);
      s.once('connect', () => { clearTimeout(timer); resolve(s); });
      s.once('error', (err) => { clearTimeout(timer); s.destroy(); reject(err); });
    }).catch((err: unknown) => {
      throw new OperationFailedError('tor-control-unreachable', `cannot reach tor's control port 127.0.0.1:${port}: ${message(err)}`, { cause: err });
    });
    const control = new TorControl(socket);
    try {
      await control.#authenticate(timeoutMs);
    } catch (err) {
      control.close();
      throw err;
    }
    return control;
  }

  async #authenticate(timeoutMs: number): Promise<void> {
    const info = parseProtocolInfo(await this.request('PROTOCOLINFO 1', timeoutMs));
    if (!info.methods.includes('COOKIE') || info.cookieFile === null) {
      throw new OperationFailedError('tor-control-auth', `tor offers no cookie authentication (methods: ${info.methods.join(',') || 'none'})`, {
        hint: 'set CookieAuthentication 1',
      });
    }
    const cookie = await readFile(info.cookieFile).catch((err: unknown) => {
      throw new OperationFailedError('tor-control-auth', `cannot read tor's control cookie ${info.cookieFile ?? ''}: ${message(err)}`, { cause: err });
    });
    await this.request(`AUTHENTICATE ${cookie.toString('hex')}`, timeoutMs).catch((err: unknown) => {
      throw new OperationFailedError('tor-control-auth', `tor refused the control cookie: ${message(err)}`, { cause: err });
    });
  }

  /**
   * Sends one command line and resolves with tor's reply when its status is 250. Throws
   * OperationFailedError `tor-control-failed` for any other status (with tor's text),
   * `tor-control-closed` when the connection is gone, and `tor-control-timeout` when tor does not
   * answer in time — the connection is closed then, since later answers could no longer be matched.
   * Throws a RangeError when `command` contains a line break.
   */
  async request(command: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ControlReply> {
    if (/[\r\n]/.test(command)) throw new RangeError('a control-port command is one line');
    if (this.#error !== null) throw this.#error;
    const verb = command.split(' ')[0] ?? '';
    const reply = await new Promise<ControlReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(new OperationFailedError('tor-control-timeout', `tor did not answer ${verb} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.push({
        resolve: (r) => { clearTimeout(timer); resolve(r); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.#socket.write(`${command}\r\n`);
    });
    if (reply.status !== 250) throw new OperationFailedError('tor-control-failed', `tor answered ${verb} with ${reply.status}: ${replyText(reply)}`);
    return reply;
  }

  /** The values of GETINFO `keys`, by key (see {@link request} for what it throws). */
  async getinfo(...keys: readonly string[]): Promise<Map<string, string>> {
    return parseGetinfo(await this.request(`GETINFO ${keys.join(' ')}`));
  }

  /** `SIGNAL <name>` (RELOAD, NEWNYM, …); resolves once tor accepted it (it acts on it asynchronously). */
  async signal(name: string): Promise<void> {
    await this.request(`SIGNAL ${name}`);
  }

  /**
   * Asks tor for these asynchronous events too (`SETEVENTS` with every type asked for so far, so one
   * caller's subscription never drops another's). Resolves once tor confirmed.
   */
  async addEvents(...types: readonly string[]): Promise<void> {
    for (const t of types) this.#events.add(t);
    await this.request(['SETEVENTS', ...[...this.#events].sort()].join(' '));
  }

  /**
   * Makes tor re-read its torrc and its onion services' `authorized_clients/` (`SIGNAL RELOAD`, the
   * same as SIGHUP) and resolves once tor reports `650 SIGNAL RELOAD`, which it emits only after the
   * new configuration is in force. For a tor this process did not start (its pid and control port
   * from a runtime file); TorProcess.reload also checks a changed torrc first. Beware: tor exits
   * when the torrc it re-reads is invalid. Throws OperationFailedError `tor-control-timeout` or
   * `tor-control-closed` when tor does not confirm (or exits).
   */
  async reloadConfig(deadlineMs = 30_000): Promise<void> {
    await this.addEvents('SIGNAL');
    const confirmed = this.waitForEvent('tor to confirm the reload', (e) => (e.type === 'SIGNAL' && e.text.startsWith('RELOAD') ? true : null), deadlineMs);
    confirmed.catch(() => undefined); // observed below; a failed SIGNAL must not leave it unhandled
    await this.signal('RELOAD');
    await confirmed;
  }

  /** Calls `listener` for every asynchronous event until the returned function is called. */
  onEvent(listener: (event: ControlEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  /**
   * Resolves with `match`'s first non-null value for an event from now on (subscribe with
   * {@link addEvents} first). Rejects with OperationFailedError `tor-control-timeout` at the deadline,
   * or the connection's error when it closes first.
   */
  waitForEvent<T>(what: string, match: (event: ControlEvent) => T | null, deadlineMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (settle: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        off();
        settle();
      };
      const off = this.onEvent((event) => {
        const value = match(event);
        if (value !== null) finish(() => { resolve(value); });
      });
      const timer = setTimeout(() => {
        finish(() => { reject(new OperationFailedError('tor-control-timeout', `timed out after ${deadlineMs} ms waiting for ${what}`)); });
      }, deadlineMs);
      void this.#closed.then(() => { finish(() => { reject(this.#error ?? new Error('closed')); }); });
    });
  }

  /** Closes the connection; pending commands reject. Idempotent; never throws. */
  close(): void {
    this.#socket.destroy();
  }

  /** Resolves once the connection is closed (by either side). */
  closed(): Promise<void> {
    return this.#closed;
  }

  #dispatch(reply: ControlReply): void {
    if (isEvent(reply)) {
      const first = reply.lines[0]?.text ?? '';
      const space = first.indexOf(' ');
      const event: ControlEvent = {
        type: space === -1 ? first : first.slice(0, space),
        text: space === -1 ? '' : first.slice(space + 1),
        reply,
      };
      for (const listener of [...this.#listeners]) {
        try {
          listener(event);
        } catch {
          // a failing listener must not stop the others or the connection
        }
      }
      return;
    }
    this.#pending.shift()?.resolve(reply);
  }

  #fail(error: Error): void {
    this.#error ??= error;
    for (const pending of this.#pending.splice(0)) pending.reject(this.#error);
    this.#socket.destroy();
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
