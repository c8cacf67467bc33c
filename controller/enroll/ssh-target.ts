/**
 * The values `device add --ssh` takes from its flags: the SSH endpoint `USER@HOST[:PORT]`, a SOCKS
 * proxy `HOST:PORT`, a pinned host key `SHA256:<base64>` (OpenSSH's fingerprint format). No I/O.
 */
import { createHash } from 'node:crypto';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface SshEndpoint extends HostPort {
  readonly user: string;
}

/** Tor's default SocksPort: the proxy for an .onion host when `--socks` is not given. */
export const TOR_SOCKS: HostPort = { host: '127.0.0.1', port: 9050 };

const HOST = String.raw`(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?)`;
const TARGET = new RegExp(String.raw`^([a-z_][a-z0-9_.-]{0,31})@${HOST}(?::(\d{1,5}))?$`);
const HOST_PORT = new RegExp(String.raw`^${HOST}:(\d{1,5})$`);

function port(text: string | undefined, fallback: number): number | null {
  if (text === undefined) return fallback;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : null;
}

function unbracket(host: string): string {
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

/** `USER@HOST[:PORT]` (port 22 by default; `[::1]` for IPv6); null when malformed. */
export function parseSshTarget(text: string): SshEndpoint | null {
  const m = TARGET.exec(text);
  if (m === null) return null;
  const p = port(m[3], 22);
  return p === null || m[1] === undefined || m[2] === undefined ? null : { user: m[1], host: unbracket(m[2]), port: p };
}

/** `HOST:PORT`; null when malformed. */
export function parseHostPort(text: string): HostPort | null {
  const m = HOST_PORT.exec(text);
  if (m === null || m[1] === undefined) return null;
  const p = port(m[2], 0);
  return p === null ? null : { host: unbracket(m[1]), port: p };
}

export function isOnion(host: string): boolean {
  return host.toLowerCase().endsWith('.onion');
}

/**
 * How messages and progress lines name the endpoint: `user@host:port`, except that an onion
 * address (a secret) is never printed.
 */
export function describeEndpoint(e: SshEndpoint): string {
  const host = isOnion(e.host) ? '<onion address>' : e.host.includes(':') ? `[${e.host}]` : e.host;
  return `${e.user}@${host}:${e.port}`;
}

/** `SHA256:` and 43 base64 characters (OpenSSH prints no padding; a trailing `=` is dropped). */
export function parseHostKeyPin(text: string): string | null {
  const m = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(text.trim());
  return m === null ? null : `SHA256:${m[1] ?? ''}`;
}

/** OpenSSH's fingerprint of a host key blob (the key in SSH wire format): `SHA256:<base64, no padding>`. */
export function hostKeyFingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type a host key blob starts with (`ssh-ed25519`, `ecdsa-sha2-nistp256`, …); `unknown` if unreadable. */
export function hostKeyType(blob: Uint8Array): string {
  if (blob.length < 4) return 'unknown';
  const length = new DataView(blob.buffer, blob.byteOffset, blob.byteLength).getUint32(0);
  return length > 0 && length < 64 && blob.length >= 4 + length ? new TextDecoder().decode(blob.subarray(4, 4 + length)) : 'unknown';
}
