/**
 * Installs a pinned binary (fleet.yaml `binaries`, PinnedBinary) by downloading it through tor's
 * SOCKS port. Contracts: every connection — redirects included — goes through the proxy with the
 * hostname resolved *at the proxy* (socks5h); only https, or plain http to an `.onion` host; the
 * bytes must hash to the pin before anything replaces `dest`; a failure leaves no file behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, open, rename, stat, unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import * as http from 'node:http';
import * as https from 'node:https';
import { basename, dirname, join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { SocksProxyAgent } from 'socks-proxy-agent';
import { EXIT, OnionfleetError, type ErrorOptions, type ExitCode } from '#shared/errors.ts';
import { sha256OfFile } from '#shared/fs/sha256.ts';

export interface InstallPinnedBinaryOptions {
  /** https://…, or http://<56>.onion/… */
  readonly url: string;
  /** Expected SHA-256, 64 hex characters. */
  readonly sha256: string;
  /** Where the executable ends up (replaced atomically). */
  readonly dest: string;
  /** The SOCKS proxy, `socks5h://host:port` (tor: `socks5h://127.0.0.1:9050`). Other schemes are refused. */
  readonly socksProxy: string;
  /** Deadline for the whole download (all redirects and the body), in milliseconds. */
  readonly timeoutMs: number;
  /** An extra trusted CA (PEM) besides the system roots; for tests. */
  readonly ca?: string | Buffer;
  /** Largest accepted body; default 256 MiB. */
  readonly maxBytes?: number;
  /** Cancels the download (same cleanup as a failure). */
  readonly signal?: AbortSignal;
}

export interface InstalledBinary {
  /** False when `dest` already had the pinned hash and nothing was downloaded. */
  readonly installed: boolean;
  /** The SHA-256 of `dest` (lower-case hex). */
  readonly sha256: string;
}

/** The downloaded bytes do not hash to the pin. Nothing was installed and no file was left behind. Exit 1. */
export class BinaryHashMismatchError extends OnionfleetError {
  readonly code = 'binary-hash-mismatch';
  readonly exitCode = EXIT.failed;
  constructor(readonly url: string, readonly expected: string, readonly actual: string, options: ErrorOptions = {}) {
    super(`${url}: SHA-256 is ${actual}, expected ${expected}; refusing to install it`, {
      hint: 'check the pinned sha256 in fleet.yaml against the release; a mismatch can also mean a tampered download',
      ...options,
    });
  }
}

const DOWNLOAD_EXIT = {
  'binary-url-refused': EXIT.invalid,
  'binary-too-large': EXIT.failed,
  'binary-http-status': EXIT.failed,
  'binary-download-failed': EXIT.unreachable,
} as const satisfies Record<string, ExitCode>;
export type BinaryDownloadErrorCode = keyof typeof DOWNLOAD_EXIT;

/**
 * The download was refused or failed: a disallowed URL or proxy (`binary-url-refused`, before any
 * connection), a body over `maxBytes`, an HTTP error status or too many redirects, or the proxy /
 * connection / deadline (`binary-download-failed`, with the cause). Nothing was installed.
 */
export class BinaryDownloadError extends OnionfleetError {
  readonly exitCode: ExitCode;
  constructor(readonly code: BinaryDownloadErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.exitCode = DOWNLOAD_EXIT[code];
  }
}

const MAX_REDIRECTS = 5;
const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

/** Null when the URL may be fetched; otherwise why not. */
function urlRefusal(url: URL): string | null {
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:' && url.hostname.endsWith('.onion')) return null;
  return `${url.protocol}//${url.host}: only https:// (or plain http:// to an .onion host) is allowed`;
}

function parseUrl(raw: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch (err) {
    throw new BinaryDownloadError('binary-url-refused', `not a URL: ${raw}`, { cause: err });
  }
  const refusal = urlRefusal(url);
  if (refusal !== null) throw new BinaryDownloadError('binary-url-refused', refusal);
  return url;
}


function get(url: URL, agent: SocksProxyAgent, ca: readonly (string | Buffer)[] | undefined, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const options = { agent, signal, headers: { 'user-agent': 'onionfleet-agent', 'accept-encoding': 'identity' } };
    const req = url.protocol === 'https:'
      ? https.get(url, ca === undefined ? options : { ...options, ca: [...ca] }, resolve)
      : http.get(url, options, resolve);
    req.once('error', reject);
  });
}

/** The final 200 response after at most {@link MAX_REDIRECTS} redirects, each re-checked and proxied. */
async function fetchFollowing(start: URL, agent: SocksProxyAgent, ca: readonly (string | Buffer)[] | undefined, signal: AbortSignal): Promise<IncomingMessage> {
  let url = start;
  for (let hop = 0; ; hop++) {
    const res = await get(url, agent, ca, signal);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location !== undefined) {
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new BinaryDownloadError('binary-http-status', `${start.href}: more than ${MAX_REDIRECTS} redirects`);
      url = parseUrl(location, url);
      continue;
    }
    if (status !== 200) {
      res.resume();
      throw new BinaryDownloadError('binary-http-status', `${url.href}: HTTP ${status}`, { hint: 'check the pinned url in fleet.yaml' });
    }
    return res;
  }
}

/** Streams the body into the open temp file; returns its SHA-256. Throws when it exceeds maxBytes. */
async function streamToFile(res: IncomingMessage, write: (chunk: Buffer) => Promise<unknown>, url: URL, maxBytes: number): Promise<string> {
  const tooLarge = () => new BinaryDownloadError('binary-too-large', `${url.href}: larger than ${maxBytes} bytes`);
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (declared > maxBytes) {
    res.destroy();
    throw tooLarge();
  }
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of res) {
    const buf = chunk as Buffer;
    bytes += buf.length;
    if (bytes > maxBytes) {
      res.destroy();
      throw tooLarge();
    }
    hash.update(buf);
    await write(buf);
  }
  if (!res.complete) throw new BinaryDownloadError('binary-download-failed', `${url.href}: the connection closed before the body ended`);
  return hash.digest('hex');
}

/**
 * Makes `dest` the pinned binary (mode 0755). Does nothing (beyond restoring mode 0755) when
 * `dest` already hashes to `sha256`. Otherwise downloads through `socksProxy` into a temp file
 * beside `dest` while hashing, and renames it over `dest` only when the hash matches.
 *
 * Throws {@link BinaryDownloadError} (refused URL/proxy before any connection, too large, HTTP
 * status, too many redirects, proxy or connection failure, deadline or abort) and
 * {@link BinaryHashMismatchError}; and the file-system error when `dest` or its directory cannot be
 * read or written. In every failure `dest` is unchanged and no temp file remains.
 */
export async function installPinnedBinary(options: InstallPinnedBinaryOptions): Promise<InstalledBinary> {
  const expected = options.sha256.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(expected)) throw new BinaryDownloadError('binary-url-refused', 'sha256 must be 64 hex characters');
  const url = parseUrl(options.url);
  if (!options.socksProxy.startsWith('socks5h://')) {
    throw new BinaryDownloadError('binary-url-refused', 'the proxy must be socks5h://host:port so that hostnames resolve at the proxy, never locally');
  }

  if ((await sha256OfFile(options.dest)) === expected) {
    if (((await stat(options.dest)).mode & 0o7777) !== 0o755) await chmod(options.dest, 0o755);
    return { installed: false, sha256: expected };
  }

  const signal = AbortSignal.any([AbortSignal.timeout(options.timeoutMs), ...(options.signal ? [options.signal] : [])]);
  const agent = new SocksProxyAgent(options.socksProxy, { timeout: options.timeoutMs });
  const ca = options.ca === undefined ? undefined : [...rootCertificates, options.ca];
  const tmp = join(dirname(options.dest), `.${basename(options.dest)}.${randomBytes(6).toString('hex')}.download`);
  const handle = await open(tmp, 'wx', 0o600);
  let renamed = false;
  try {
    let actual: string;
    try {
      const res = await fetchFollowing(url, agent, ca, signal);
      actual = await streamToFile(res, (chunk) => handle.write(chunk), url, options.maxBytes ?? DEFAULT_MAX_BYTES);
    } catch (err) {
      if (err instanceof OnionfleetError) throw err;
      const why = signal.aborted ? (options.signal?.aborted === true ? 'aborted' : `no complete download within ${options.timeoutMs} ms`) : 'download failed';
      throw new BinaryDownloadError('binary-download-failed', `${url.href}: ${why} (through ${redactProxy(options.socksProxy)})`, {
        cause: err,
        hint: 'check that tor is running and its SOCKS port is reachable',
      });
    }
    if (actual !== expected) throw new BinaryHashMismatchError(url.href, expected, actual);
    await handle.chmod(0o755);
    await handle.sync();
    await handle.close();
    await rename(tmp, options.dest);
    renamed = true;
    return { installed: true, sha256: actual };
  } finally {
    agent.destroy();
    if (!renamed) {
      await handle.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    }
  }
}

/** The proxy URL without credentials, for messages. */
function redactProxy(proxy: string): string {
  try {
    const u = new URL(proxy);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'the SOCKS proxy';
  }
}
