/**
 * The TLS identity probe through a SOCKS5 proxy (Tor's SocksPort): the probe's socket is a SOCKS5
 * CONNECT to `<host>:<port>` with the host handed to the proxy as a name, so Tor resolves the
 * .onion itself (docs/reference/tor.md, "SOCKS and .onion names"). Tor's extended replies become clear reasons
 * (shared/tor/socks-tunnel.ts); 0xF0 "descriptor not found", normal while a service or Tor starts,
 * is retried until the probe's deadline.
 *
 * The target is a secret: nothing here puts it into an error or a message.
 */
import type { Socket } from 'node:net';
import type { SimplexKind } from '../crypto/fingerprint.ts';
import { dialSocks, TunnelError, type TunnelFailure } from '../tor/socks-tunnel.ts';
import { probeIdentity, type IdentityProbe } from './tls-identity.ts';

/** A SOCKS5 proxy's address. */
export interface SocksAddress {
  readonly host: string;
  readonly port: number;
}

export interface SocksProbeOptions {
  readonly socks: SocksAddress;
  /** An onion (`<56>.onion`) or any name or IP the proxy can reach, and the port there. */
  readonly target: { readonly host: string; readonly port: number };
  readonly kind: SimplexKind;
  /** The fingerprint the server must prove (44-character base64url with `=`). */
  readonly fingerprint: string;
  /** Deadline for the whole probe, retries of 0xF0 included. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** Wait between attempts after 0xF0. Default 2000 ms (docs/reference/tor.md). */
  readonly retryDelayMs?: number;
}

/** What a probe through SOCKS found: the identity probe, plus why the proxy could not connect. */
export interface SocksProbe extends IdentityProbe {
  /** The proxy's last refusal (e.g. `descriptor-not-found`, `intro-failed`), or `null`. */
  readonly socksFailure: TunnelFailure | null;
  /** Connection attempts made through the proxy (more than 1 after 0xF0 retries). */
  readonly attempts: number;
}

const DEFAULT_RETRY_DELAY_MS = 2000;

/**
 * Probes one SimpleX server through a SOCKS5 proxy. Never throws for network, proxy or protocol
 * failures: they come back as `reachable: false` with `error` and `socksFailure` set.
 */
export async function probeThroughSocks(options: SocksProbeOptions): Promise<SocksProbe> {
  const deadline = Date.now() + options.timeoutMs;
  const retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  // Ends the retry loop once the probe returned (its own deadline or an abort came first).
  const done = new AbortController();
  const onAbort = (): void => { done.abort(); };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // Written by `connect` while the probe runs, read once it returned.
  const seen: { socksFailure: TunnelFailure | null; attempts: number } = { socksFailure: null, attempts: 0 };
  const stopped = (): boolean => done.signal.aborted;

  const connect = async (): Promise<Socket> => {
    for (;;) {
      seen.attempts++;
      try {
        const socket = await dialSocks(options.socks, options.target, Math.max(1, deadline - Date.now()), done.signal);
        seen.socksFailure = null;
        return socket;
      } catch (err) {
        if (!(err instanceof TunnelError)) throw err;
        seen.socksFailure = err.reason;
        const retry = err.reason === 'descriptor-not-found' && deadline - Date.now() > retryDelayMs && !stopped();
        if (!retry) throw err;
        await pause(retryDelayMs, done.signal);
        if (stopped()) throw err;
      }
    }
  };

  try {
    const probe = await probeIdentity({
      kind: options.kind,
      fingerprint: options.fingerprint,
      connect,
      timeoutMs: options.timeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    // A deadline that ran out between 0xF0 retries says "timed out": name what kept it from connecting.
    const { socksFailure, attempts } = seen;
    const error = probe.error !== null && !probe.reachable && socksFailure !== null && !probe.error.includes('SOCKS5 reply')
      ? `${probe.error} (last: ${socksFailure})`
      : probe.error;
    return { ...probe, error, socksFailure, attempts };
  } finally {
    done.abort();
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. Never rejects. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(finish, ms);
    function finish(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      resolve();
    }
    signal.addEventListener('abort', finish, { once: true });
  });
}

/** Parses `HOST:PORT` (an IPv4 literal or a name, and a port 1–65535); `null` when malformed. */
export function parseSocksAddress(text: string): SocksAddress | null {
  const match = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
  if (match === null) return null;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return null;
  return { host: match[1] ?? '', port };
}
