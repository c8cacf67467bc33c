/**
 * One way to open a NATS connection, with the options that matter when the server is an onion away
 * (docs/reference/nats.md, "Client packages and options"), and with refusal and authentication failures
 * turned into typed errors.
 */
import { connect, errors, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { sleep } from '../async/poll.ts';
import { EXIT, OnionfleetError, type ErrorOptions } from '../errors.ts';

export interface ConnectNatsOptions {
  /** One server, `nats://host:port` (through Tor: the local SocksTunnel's `nats://127.0.0.1:<port>`). */
  readonly servers: string;
  /** The user's nkey seed (`SU…`), as text or its ASCII bytes. */
  readonly nkeySeed: Uint8Array | string;
  /** The connection's name, shown by the server: the device id or `controller`. */
  readonly name: string;
  /**
   * Handshake timeout of each attempt, and the deadline after which no new first-connect attempt
   * starts. Default 60 000 (one connect through Tor can take tens of seconds).
   */
  readonly timeoutMs?: number;
  /**
   * Default true: retry the first connection every ~5 s until `timeoutMs`, and once connected
   * reconnect forever (agents, `onionfleet serve`). false: one attempt and no reconnects (CLI one-shots).
   */
  readonly reconnect?: boolean;
  /**
   * When to stop retrying the first connection, if not after `timeoutMs`. Agents pass Infinity: a
   * device may boot long before the controller's onion is up; `signal` still stops them.
   */
  readonly firstConnectDeadlineMs?: number;
  /** Stops first-connect retries; connectNats then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** The NATS server could not be reached (refused, timed out, or closed the connection). Exit 4. */
export class NatsUnreachableError extends OnionfleetError {
  readonly code = 'nats-unreachable';
  readonly exitCode = EXIT.unreachable;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, { hint: 'is `onionfleet serve` running?', ...options });
  }
}

/** The server refused this nkey (unknown user, or removed from the config). Exit 1. */
export class NatsAuthFailedError extends OnionfleetError {
  readonly code = 'nats-auth-failed';
  readonly exitCode = EXIT.failed;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, { hint: 'the server does not know this nkey: enroll the device (its user goes into the server config) and reload the server', ...options });
  }
}

const RECONNECT_WAIT_MS = 5_000;
const RECONNECT_JITTER_MS = 1_000;

/**
 * Connects with an nkey and the client options of docs/reference/nats.md: `maxReconnectAttempts: -1`,
 * `reconnectTimeWait: 5000` with 1 s jitter, `ignoreClusterUpdates`, `pingInterval: 30000`,
 * `maxPingOut: 3`, `noEcho` and `name`.
 *
 * The library's `waitOnFirstConnect: true` would retry the first connection forever with no way to
 * stop it; connectNats retries the first connection itself instead (same cadence), bounded by
 * `timeoutMs` and `signal`. Once connected, the library reconnects on its own (unless `reconnect` is false).
 *
 * Throws {@link NatsAuthFailedError} at once when the server rejects the nkey, and
 * {@link NatsUnreachableError} when no attempt connected by the deadline (with `reconnect: false`:
 * when the one attempt fails). Rejects with `signal.reason` when aborted.
 */
export async function connectNats(options: ConnectNatsOptions): Promise<NatsConnection> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const reconnect = options.reconnect ?? true;
  const seed = typeof options.nkeySeed === 'string' ? new TextEncoder().encode(options.nkeySeed) : options.nkeySeed;
  const deadline = Date.now() + (options.firstConnectDeadlineMs ?? timeoutMs);
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await connect({
        servers: options.servers,
        authenticator: nkeyAuthenticator(seed),
        name: options.name,
        timeout: timeoutMs,
        reconnect,
        maxReconnectAttempts: -1,
        reconnectTimeWait: RECONNECT_WAIT_MS,
        reconnectJitter: RECONNECT_JITTER_MS,
        reconnectJitterTLS: RECONNECT_JITTER_MS,
        waitOnFirstConnect: false,
        ignoreClusterUpdates: true,
        pingInterval: 30_000,
        maxPingOut: 3,
        noEcho: true,
      });
    } catch (err) {
      const failure = classify(err, options.servers, attempt);
      if (failure instanceof NatsAuthFailedError || !reconnect) throw failure;
      const wait = RECONNECT_WAIT_MS + Math.floor(Math.random() * RECONNECT_JITTER_MS);
      if (Date.now() + wait >= deadline) throw failure;
      await sleep(wait, options.signal);
    }
  }
}

/** Maps a failed attempt to the typed error a CLI reports. Never names anything but the URL. */
function classify(err: unknown, servers: string, attempts: number): NatsAuthFailedError | NatsUnreachableError {
  const tries = attempts === 1 ? '' : ` (${attempts} attempts)`;
  if (err instanceof errors.AuthorizationError || err instanceof errors.UserAuthenticationExpiredError) {
    return new NatsAuthFailedError(`NATS at ${servers} refused this nkey: ${err.message}`, { cause: err });
  }
  if (err instanceof errors.TimeoutError) {
    return new NatsUnreachableError(`NATS at ${servers} did not complete the handshake in time${tries}`, { cause: err });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new NatsUnreachableError(`cannot connect to NATS at ${servers}: ${detail}${tries}`, { cause: err });
}
