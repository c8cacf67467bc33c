/**
 * Identity probe of a SimpleX SMP or XFTP server over TLS (docs/reference/simplex-servers.md,
 * "Identity probe over TLS"). TLS runs over a socket the caller may supply, so the same probe works
 * over a local TCP connection or a SOCKS (Tor) tunnel.
 *
 * Identity is the fingerprint, not a PKI: no SNI, no host name check, no CA store. It holds when
 * SHA-256 of the presented chain[1] (the CA) equals the expected fingerprint and chain[0] is signed
 * by chain[1]. The server hello then proves the TLS session is the server's own: its session id is
 * our TLS Finished message.
 */
import { X509Certificate } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { derFingerprint, type SimplexKind } from '../crypto/fingerprint.ts';

/** What one probe found. A wrong fingerprint is `identityOk: false`, which the caller treats as an alarm. */
export interface IdentityProbe {
  /** The TLS handshake completed (a server presented certificates). */
  readonly reachable: boolean;
  /** chain[1] has the expected fingerprint and signed chain[0]. */
  readonly identityOk: boolean;
  /** Fingerprint of the presented chain[1], or `null` when the server presented no CA. */
  readonly presentedFingerprint: string | null;
  /** chain[0] verifies with chain[1]'s public key. */
  readonly chainSigned: boolean;
  /** A well-formed 16384-byte hello arrived and its session id is our TLS Finished. */
  readonly helloOk: boolean;
  /** The version range from the hello, or `null` when none could be read. */
  readonly versions: { readonly min: number; readonly max: number } | null;
  /** Milliseconds for connect + TLS handshake + hello, or `null` unless the hello was read. */
  readonly latencyMs: number | null;
  /** What went wrong first, or `null`. */
  readonly error: string | null;
}

/** Where to connect: a ready or connecting socket (e.g. a SOCKS tunnel), or a TCP host and port. */
export type ProbeTarget =
  | { readonly connect: () => Promise<net.Socket> | net.Socket }
  | { readonly host: string; readonly port: number };

export type ProbeOptions = ProbeTarget & {
  readonly kind: SimplexKind;
  /** The expected fingerprint (44-character base64url with `=`). */
  readonly fingerprint: string;
  /** Deadline for the whole probe. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
};

/** Size of every SMP/XFTP transport block, the hello included. */
export const HELLO_BLOCK_SIZE = 16384;
const ALPN: Record<SimplexKind, string> = { smp: 'smp/1', xftp: 'xftp/1' };
const PAD = 0x23; // '#'

/** The parsed head of a server hello block. */
export interface ServerHello {
  readonly min: number;
  readonly max: number;
  readonly sessionId: Buffer;
}

/**
 * Parses a 16384-byte server hello: uint16 payload length, uint16 min and max version, uint8
 * length + session id, the rest of the payload (chain and signed key, not checked here), then
 * `#` padding. Returns `null` when the block is malformed.
 */
export function parseServerHello(block: Uint8Array): ServerHello | null {
  const buf = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  if (buf.length !== HELLO_BLOCK_SIZE) return null;
  const length = buf.readUInt16BE(0);
  if (length < 5 || length > HELLO_BLOCK_SIZE - 2) return null;
  const sidLength = buf.readUInt8(6);
  if (5 + sidLength > length) return null;
  if (!buf.subarray(2 + length).every((b) => b === PAD)) return null;
  const min = buf.readUInt16BE(2);
  const max = buf.readUInt16BE(4);
  if (min > max) return null;
  return { min, max, sessionId: Buffer.from(buf.subarray(7, 7 + sidLength)) };
}

/**
 * Probes one server: TCP (or the supplied socket) → TLS with ALPN `smp/1`/`xftp/1` and no SNI →
 * chain check → hello (SMP: the block the server sends at once; XFTP: the response to an HTTP/2
 * `POST /` with an empty body). Never throws for network or protocol failures: they come back as
 * `reachable: false` or `helloOk: false` with `error` set.
 */
export async function probeIdentity(options: ProbeOptions): Promise<IdentityProbe> {
  const started = performance.now();
  const found: Mutable<IdentityProbe> = {
    reachable: false, identityOk: false, presentedFingerprint: null, chainSigned: false,
    helloOk: false, versions: null, latencyMs: null, error: null,
  };
  const owned = new Owned();
  let stop: (err: Error) => void = () => undefined;
  const stopped = new Promise<never>((_, reject) => { stop = reject; });
  stopped.catch(() => undefined);
  const timer = setTimeout(() => { stop(new Error(`timed out after ${options.timeoutMs} ms`)); }, options.timeoutMs);
  const onAbort = (): void => { stop(new Error('aborted')); };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted === true) onAbort();
  let phase = 'connect';
  try {
    const raw = await Promise.race([openSocket(options, owned), stopped]);
    phase = 'TLS handshake';
    const socket = await Promise.race([startTls(raw, ALPN[options.kind], owned), stopped]);
    found.reachable = true;
    Object.assign(found, checkChain(socket, options.fingerprint));
    phase = 'server hello';
    const block = await Promise.race([options.kind === 'smp' ? readSmpHello(socket) : readXftpHello(socket, owned), stopped]);
    const hello = parseServerHello(block);
    if (hello === null) throw new Error('malformed server hello block');
    found.versions = { min: hello.min, max: hello.max };
    const finished = socket.getFinished();
    if (finished === undefined || !finished.equals(hello.sessionId)) throw new Error('hello session id is not this TLS session');
    found.helloOk = true;
    found.latencyMs = Math.round(performance.now() - started);
  } catch (err) {
    found.error = `${phase}: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    owned.destroyAll();
  }
  return found;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Sockets and sessions the probe opened; one that arrives after the probe ended is destroyed at once. */
class Owned {
  #items: { destroy: () => void }[] = [];
  #done = false;
  add<T extends { destroy: () => void }>(item: T): T {
    if (this.#done) item.destroy();
    else this.#items.push(item);
    return item;
  }
  destroyAll(): void {
    this.#done = true;
    for (const item of this.#items.reverse()) item.destroy();
    this.#items = [];
  }
}

async function openSocket(options: ProbeOptions, owned: Owned): Promise<net.Socket> {
  if ('connect' in options) {
    const socket = owned.add(await options.connect());
    socket.on('error', () => undefined); // surfaced through the TLS socket
    return socket;
  }
  const socket = owned.add(net.connect({ host: options.host, port: options.port }));
  return new Promise((resolve, reject) => {
    socket.once('connect', () => { resolve(socket); });
    socket.once('error', reject);
  });
}

function startTls(raw: net.Socket, alpn: string, owned: Owned): Promise<tls.TLSSocket> {
  const socket = owned.add(tls.connect({
    socket: raw,
    ALPNProtocols: [alpn],
    // No servername: no SNI is sent. Identity is the fingerprint check, not a CA or a host name.
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
  }));
  return new Promise((resolve, reject) => {
    socket.once('secureConnect', () => { resolve(socket); });
    socket.once('error', reject);
    socket.once('close', () => { reject(new Error('connection closed')); });
  });
}

/** Fingerprint of chain[1] and whether it signed chain[0]. */
function checkChain(socket: tls.TLSSocket, expected: string): Pick<IdentityProbe, 'identityOk' | 'presentedFingerprint' | 'chainSigned'> {
  // Node links the presented certificates by issuer; a self-signed leaf is its own issuer.
  const leaf = socket.getPeerCertificate(true) as Partial<tls.DetailedPeerCertificate>;
  const issuer = leaf.issuerCertificate as Partial<tls.DetailedPeerCertificate> | undefined;
  if (leaf.raw === undefined || issuer?.raw === undefined || issuer.raw.equals(leaf.raw)) {
    return { identityOk: false, presentedFingerprint: null, chainSigned: false };
  }
  const presentedFingerprint = derFingerprint(issuer.raw);
  let chainSigned = false;
  try {
    chainSigned = new X509Certificate(leaf.raw).verify(new X509Certificate(issuer.raw).publicKey);
  } catch {
    chainSigned = false;
  }
  return { identityOk: chainSigned && presentedFingerprint === expected, presentedFingerprint, chainSigned };
}

/** The first 16384 bytes the SMP server sends after the handshake. */
function readSmpHello(socket: tls.TLSSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= HELLO_BLOCK_SIZE) {
        socket.off('data', onData);
        resolve(Buffer.concat(chunks).subarray(0, HELLO_BLOCK_SIZE));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('end', () => { reject(new Error(`connection closed after ${size} bytes`)); });
  });
}

/** HTTP/2 over the TLS socket: `POST /` with an empty body; the response body is the hello. */
function readXftpHello(socket: tls.TLSSocket, owned: Owned): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const session = owned.add(http2.connect('https://xftp.invalid', { createConnection: () => socket }));
    session.once('error', reject);
    const request = session.request({ ':method': 'POST', ':path': '/' });
    request.once('error', reject);
    const chunks: Buffer[] = [];
    let status = 0;
    request.once('response', (headers) => { status = Number(headers[':status']); });
    request.on('data', (chunk: Buffer) => { chunks.push(chunk); });
    request.once('end', () => {
      if (status !== 200) reject(new Error(`HTTP/2 status ${status}`));
      else resolve(Buffer.concat(chunks));
    });
    request.end();
  });
}
