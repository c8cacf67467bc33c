/**
 * An in-process tunnel to one service through Tor: a listener on 127.0.0.1 whose every accepted
 * connection becomes a SOCKS5 CONNECT to the target, piped both ways. The NATS client (which takes
 * no socket from its caller, docs/reference/nats.md) then connects to `127.0.0.1:<port>`, and reconnects go
 * through the tunnel too, never around it.
 *
 * The target (an onion address) is a secret: no message, error or cause names it.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { SocksClient } from 'socks';
import { EXIT, OnionfleetError, InternalError } from '../errors.ts';

/** SOCKS5 reply codes (RFC 1928 §6) and Tor's `ExtendedErrors` codes (docs/reference/tor.md), by reason. */
const REPLIES = {
  0x01: ['general-failure', 'the SOCKS proxy reported a general failure', null],
  0x02: ['not-allowed', 'the SOCKS proxy does not allow this connection', 'check the proxy\'s rules (Tor: SocksPolicy)'],
  0x03: ['network-unreachable', 'the network is unreachable from the SOCKS proxy', null],
  0x04: ['host-unreachable', 'the target is unreachable from the SOCKS proxy', null],
  0x05: ['connection-refused', 'the target refused the connection', 'nothing listens behind the service port: is `onionfleet serve` running?'],
  0x06: ['ttl-expired', 'the connection through the SOCKS proxy timed out', null],
  0x07: ['command-not-supported', 'the SOCKS proxy does not support CONNECT', null],
  0x08: ['address-type-not-supported', 'the SOCKS proxy does not accept this address type', null],
  0xf0: ['descriptor-not-found', 'Tor found no descriptor for the onion service (yet)', 'normal while the service or Tor starts up; retrying'],
  0xf1: ['bad-descriptor', 'the onion service\'s descriptor is invalid', 'check the controller\'s onion address in the agent config'],
  0xf2: ['intro-failed', 'Tor could not introduce itself to the onion service', 'the service is probably down: is the controller\'s tor running?'],
  0xf3: ['rendezvous-failed', 'the rendezvous with the onion service failed', 'a transient Tor circuit failure; retrying'],
  0xf4: ['client-auth-missing', 'the onion service requires client authorization and no key is configured', 'give this device\'s tor its ClientOnionAuthDir key (re-enroll the device)'],
  0xf5: ['client-auth-wrong', 'the onion service rejected this client-authorization key', 'the controller no longer authorizes this device\'s key: re-enroll the device'],
  0xf6: ['bad-address', 'the onion address is malformed', 'check the controller\'s onion address in the agent config'],
  0xf7: ['intro-timeout', 'the introduction to the onion service timed out', 'the service may be overloaded or down; retrying'],
} as const satisfies Record<number, readonly [string, string, string | null]>;

type ReplyCode = keyof typeof REPLIES;

/** Why one tunnelled connection failed. */
export type TunnelFailure = (typeof REPLIES)[ReplyCode][0] | 'proxy-unreachable' | 'proxy-timeout' | 'proxy-protocol-error';

/** One tunnelled connection could not be opened. Exit 4. */
export class TunnelError extends OnionfleetError {
  readonly code = 'tunnel-failed';
  readonly exitCode = EXIT.unreachable;
  readonly reason: TunnelFailure;
  /** The SOCKS5 reply byte, when the proxy sent one. */
  readonly replyCode: number | null;
  /** True for 0xF0 (descriptor not found): expected at start-up, worth a debug line, not a warning. */
  readonly quiet: boolean;
  constructor(reason: TunnelFailure, message: string, options: { replyCode?: number; hint?: string | null; cause?: unknown } = {}) {
    super(message, { hint: options.hint ?? undefined, cause: options.cause });
    this.reason = reason;
    this.replyCode = options.replyCode ?? null;
    this.quiet = reason === 'descriptor-not-found';
  }
}

/**
 * The {@link TunnelError} for a SOCKS5 reply byte other than 0x00 (success). Codes outside RFC 1928
 * and Tor's extended set give `proxy-protocol-error`. Never throws.
 */
export function socksReplyError(code: number): TunnelError {
  const hex = `0x${code.toString(16).padStart(2, '0')}`;
  if (!(code in REPLIES)) return new TunnelError('proxy-protocol-error', `the SOCKS proxy answered with unknown reply ${hex}`, { replyCode: code });
  const [reason, text, hint] = REPLIES[code as ReplyCode];
  return new TunnelError(reason, `${text} (SOCKS5 reply ${hex})`, { replyCode: code, hint });
}

export interface SocksTunnelOptions {
  /** Tor's SocksPort (with `ExtendedErrors` for the onion-specific reasons). */
  readonly socks: { readonly host: string; readonly port: number };
  /** Handed to the proxy as a name (SOCKS5 domain type), so Tor resolves the .onion; no local DNS. */
  readonly target: { readonly host: string; readonly port: number };
  /** Deadline for the proxy connection plus the SOCKS handshake (a Tor circuit). Default 60 000 ms. */
  readonly connectTimeoutMs?: number;
  /** Told about every connection that could not be opened (the client's connection is closed then). */
  readonly onError?: (error: TunnelError) => void;
}

/** A listening tunnel; see the module comment. */
export class SocksTunnel {
  readonly #server: Server;
  readonly #options: SocksTunnelOptions;
  readonly #sockets = new Set<Socket>();
  #closed = false;
  /** The local port to connect to (`nats://127.0.0.1:<port>`). */
  readonly port: number;

  private constructor(server: Server, port: number, options: SocksTunnelOptions) {
    this.#server = server;
    this.port = port;
    this.#options = options;
    server.on('connection', (client) => { this.#accept(client); });
    server.on('error', () => undefined); // a failed accept (EMFILE) costs that one connection, not the process
  }

  /**
   * Listens on 127.0.0.1 on a free port. Connections to the target are opened lazily, one per
   * accepted connection; their failures go to `onError`, never thrown. Throws only if it cannot listen.
   */
  static async open(options: SocksTunnelOptions): Promise<SocksTunnel> {
    const server = createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new InternalError('the tunnel listener has no TCP port');
    return new SocksTunnel(server, address.port, options);
  }

  /** Stops listening and closes every tunnelled connection. Idempotent; never throws. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new Promise<void>((resolve) => { this.#server.close(() => { resolve(); }); });
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await closed;
  }

  #accept(client: Socket): void {
    this.#track(client);
    client.on('error', () => { client.destroy(); });
    const timeoutMs = this.#options.connectTimeoutMs ?? 60_000;
    dialSocks(this.#options.socks, this.#options.target, timeoutMs).then((upstream) => {
      if (this.#closed || client.destroyed) {
        upstream.destroy();
        return;
      }
      this.#track(upstream);
      upstream.on('close', () => { client.destroy(); });
      client.on('close', () => { upstream.destroy(); });
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    }, (err: unknown) => {
      client.destroy();
      if (this.#closed) return;
      const error = err instanceof TunnelError ? err : new TunnelError('proxy-protocol-error', 'the SOCKS handshake failed', { cause: err });
      try {
        this.#options.onError?.(error);
      } catch {
        // a failing reporter must not take the tunnel down
      }
    });
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => { this.#sockets.delete(socket); });
  }
}

/**
 * Opens a TCP connection to the proxy and a SOCKS5 CONNECT to `target` with the `socks` package.
 * The package reports Tor's extended replies only as "… rejected connection - undefined", so the
 * reply byte is read off the wire here: the package offers only "no authentication", hence the
 * proxy's answers are `05 00` (method chosen) then `05 REP …`, and REP is the stream's 4th byte.
 * Rejects with a {@link TunnelError} that names the reason, never the target. Used by the tunnel
 * and by the identity probes that run over Tor (shared/probes/over-socks.ts); `signal` closes the
 * handshake's socket at once (a probe that gave up must not hold a Tor stream until its deadline).
 */
export async function dialSocks(proxy: SocksTunnelOptions['socks'], target: SocksTunnelOptions['target'], timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  const socket = await connectToProxy(proxy, timeoutMs);
  const onAbort = (): void => { socket.destroy(); };
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted === true) onAbort();
  const seen: number[] = [];
  const tap = (chunk: Buffer): void => {
    for (const byte of chunk.subarray(0, 4 - seen.length)) seen.push(byte);
    if (seen.length >= 4) socket.off('data', tap);
  };
  socket.on('data', tap);
  try {
    const { socket: established } = await SocksClient.createConnection({
      proxy: { host: proxy.host, port: proxy.port, type: 5 },
      command: 'connect',
      destination: { host: target.host, port: target.port },
      timeout: Math.max(1, deadline - Date.now()),
      existing_socket: socket,
    });
    return established;
  } catch (err) {
    socket.destroy();
    const [, , version, reply] = seen;
    if (version === 0x05 && reply !== undefined && reply !== 0x00) throw socksReplyError(reply);
    // The package's own messages name no host (its error object does, in .options: not kept as cause).
    const text = err instanceof Error ? err.message : String(err);
    if (/timed out/i.test(text)) {
      throw new TunnelError('proxy-timeout', `no connection through the SOCKS proxy within ${timeoutMs} ms`, { hint: 'Tor may still be bootstrapping or the service be unreachable; retrying' });
    }
    throw new TunnelError('proxy-protocol-error', `the SOCKS handshake failed: ${text}`);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** A connected TCP socket to the proxy; rejects with `proxy-unreachable` or `proxy-timeout`. */
function connectToProxy(proxy: SocksTunnelOptions['socks'], timeoutMs: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host: proxy.host, port: proxy.port });
    let connected = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TunnelError('proxy-timeout', `the SOCKS proxy at ${proxy.host}:${proxy.port} did not accept within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      resolve(socket);
    });
    // Stays attached: an error after connecting closes the socket, which the handshake or the pipe then sees.
    socket.on('error', (err) => {
      socket.destroy();
      if (connected) return;
      clearTimeout(timer);
      reject(new TunnelError('proxy-unreachable', `cannot reach the SOCKS proxy at ${proxy.host}:${proxy.port}`, {
        cause: err,
        hint: 'is tor running with this SocksPort (and ExtendedErrors)?',
      }));
    });
  });
}
