/**
 * installPinnedBinary through a real SOCKS5 server (Debian's microsocks) to a local HTTPS server
 * with a self-signed certificate made by the openssl CLI.
 *
 * How the test knows every byte went through the proxy: microsocks runs with `-b 127.0.0.2`, so the
 * connections *it* makes come from 127.0.0.2, while anything the test process opened directly would
 * come from 127.0.0.1 — the HTTPS server records each request's source address. And the URL's host
 * is the name `localhost`: microsocks logs `connected to localhost:<port>`, which it can only print
 * when the client handed it the name (socks5h), not an address it had resolved itself.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../support/processes.ts';
import { BinaryDownloadError, BinaryHashMismatchError, installPinnedBinary } from '../../agent/binaries/download.ts';

const DEADLINE_MS = 10_000;
const BODY = randomBytes(300_000);
const BODY_SHA256 = createHash('sha256').update(BODY).digest('hex');

let work: string;
let ca: Buffer;
let server: Server;
let serverPort: number;
let proxy: ChildProcess;
let proxyPort: number;
let proxyLog = '';
const seen: { path: string; from: string | undefined }[] = [];


/** Resolves once 127.0.0.1:port accepts a TCP connection; fails at the deadline or when `child` exits. */
async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => { resolve(false); });
    });
    if (open) return;
    if (child.exitCode !== null) throw new Error(`microsocks exited (${child.exitCode}): ${proxyLog}`);
    if (Date.now() > deadline) throw new Error(`microsocks did not listen on ${port} within ${DEADLINE_MS} ms: ${proxyLog}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Stops exactly this child: SIGTERM, then SIGKILL when it has not exited within the deadline. */
async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

function need(command: string, args: readonly string[]): void {
  const probe = spawnSync(command, args, { encoding: 'utf8' });
  if (probe.error !== undefined) throw new Error(`this test needs ${command} on PATH (${probe.error.message}); run: bash deploy/dev-deps.sh`);
}

beforeAll(async () => {
  need('microsocks', ['-h']);
  need('openssl', ['version']);
  work = await mkdtemp(join(tmpdir(), 'onionfleet-download-'));
  const openssl = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', join(work, 'key.pem'), '-out', join(work, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost'], { encoding: 'utf8' });
  if (openssl.status !== 0) throw new Error(`openssl req failed: ${openssl.stderr}`);
  ca = await readFile(join(work, 'cert.pem'));

  server = createHttpsServer({ key: await readFile(join(work, 'key.pem')), cert: ca }, (req, res) => {
    const path = req.url ?? '';
    seen.push({ path, from: req.socket.remoteAddress });
    const redirect = /^\/redirect\/(\d+)$/.exec(path);
    if (path === '/bin') res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(BODY);
    else if (redirect !== null) res.writeHead(302, { location: Number(redirect[1]) > 0 ? `/redirect/${Number(redirect[1]) - 1}` : `https://localhost:${serverPort}/bin` }).end();
    else if (path === '/stall') res.writeHead(200, { 'content-length': String(BODY.length) }).write(BODY.subarray(0, 1000));
    else if (path === '/to-http') res.writeHead(301, { location: `http://localhost:${serverPort}/bin` }).end();
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  serverPort = (server.address() as { port: number }).port;

  proxyPort = await freePort();
  proxy = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(proxyPort), '-b', '127.0.0.2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  proxy.stdout?.on('data', (b: Buffer) => (proxyLog += b.toString()));
  proxy.stderr?.on('data', (b: Buffer) => (proxyLog += b.toString()));
  await waitForPort(proxyPort, proxy);
});

afterAll(async () => {
  await stop(proxy);
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(work, { recursive: true, force: true });
});

let dir: string;
beforeEach(async () => {
  seen.length = 0;
  dir = await mkdtemp(join(work, 'dest-'));
});

const url = (path: string) => `https://localhost:${serverPort}${path}`;
const install = (path: string, extra: Partial<Parameters<typeof installPinnedBinary>[0]> = {}) =>
  installPinnedBinary({ url: url(path), sha256: BODY_SHA256, dest: join(dir, 'smp-server'), socksProxy: `socks5h://127.0.0.1:${proxyPort}`, timeoutMs: DEADLINE_MS, ca, ...extra });
const proxiedConnections = () => proxyLog.split('\n').filter((l) => l.includes(`connected to localhost:${serverPort}`)).length;

describe('installPinnedBinary through microsocks', () => {
  it('installs the pinned bytes as 0755, every request through the proxy, by name', async () => {
    const before = proxiedConnections();
    expect(await install('/bin')).toEqual({ installed: true, sha256: BODY_SHA256 });
    expect((await readFile(join(dir, 'smp-server'))).equals(BODY)).toBe(true);
    expect((await stat(join(dir, 'smp-server'))).mode & 0o777).toBe(0o755);
    expect(seen).toEqual([{ path: '/bin', from: '127.0.0.2' }]);
    expect(proxiedConnections()).toBe(before + 1);
    expect(await readdir(dir)).toEqual(['smp-server']);
  });

  it('does not download again when dest already has the pinned hash', async () => {
    await install('/bin');
    const requests = seen.length;
    const connections = proxiedConnections();
    expect(await install('/bin')).toEqual({ installed: false, sha256: BODY_SHA256 });
    expect(seen).toHaveLength(requests);
    expect(proxiedConnections()).toBe(connections);
  });

  it('replaces a dest with other content', async () => {
    await writeFile(join(dir, 'smp-server'), 'old version', { mode: 0o755 });
    expect((await install('/bin')).installed).toBe(true);
    expect((await readFile(join(dir, 'smp-server'))).equals(BODY)).toBe(true);
  });

  it('refuses a hash mismatch with a typed error and leaves nothing behind', async () => {
    const wrong = 'ab'.repeat(32);
    const error = await install('/bin', { sha256: wrong }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BinaryHashMismatchError);
    const mismatch = error as BinaryHashMismatchError;
    expect(mismatch).toMatchObject({ code: 'binary-hash-mismatch', exitCode: 1, expected: wrong, actual: BODY_SHA256 });
    expect(mismatch.message).toContain(wrong);
    expect(mismatch.message).toContain(BODY_SHA256);
    expect(await readdir(dir)).toEqual([]);
  });

  it('follows up to 5 redirects, each through the proxy', async () => {
    expect((await install('/redirect/4')).installed).toBe(true);
    expect(seen.map((s) => s.path)).toEqual(['/redirect/4', '/redirect/3', '/redirect/2', '/redirect/1', '/redirect/0', '/bin']);
    expect(seen.every((s) => s.from === '127.0.0.2')).toBe(true);
  });

  it('refuses a sixth redirect', async () => {
    const error = await install('/redirect/5').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BinaryDownloadError);
    expect((error as BinaryDownloadError).code).toBe('binary-http-status');
    expect(seen).toHaveLength(6);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses plain http:// to a non-onion host before any connection', async () => {
    const connections = proxiedConnections();
    const error = await install('/bin', { url: `http://localhost:${serverPort}/bin` }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BinaryDownloadError);
    expect((error as BinaryDownloadError).code).toBe('binary-url-refused');
    expect((error as BinaryDownloadError).exitCode).toBe(2);
    expect(seen).toEqual([]);
    expect(proxiedConnections()).toBe(connections);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a redirect to plain http://', async () => {
    const error = await install('/to-http').catch((e: unknown) => e);
    expect((error as BinaryDownloadError).code).toBe('binary-url-refused');
    expect(seen.map((s) => s.path)).toEqual(['/to-http']);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a proxy that would resolve names locally', async () => {
    const error = await install('/bin', { socksProxy: `socks5://127.0.0.1:${proxyPort}` }).catch((e: unknown) => e);
    expect((error as BinaryDownloadError).code).toBe('binary-url-refused');
    expect(seen).toEqual([]);
  });

  it('enforces maxBytes and leaves nothing behind', async () => {
    const error = await install('/bin', { maxBytes: 1000 }).catch((e: unknown) => e);
    expect((error as BinaryDownloadError).code).toBe('binary-too-large');
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports an HTTP error status', async () => {
    const error = await install('/missing').catch((e: unknown) => e);
    expect((error as BinaryDownloadError).code).toBe('binary-http-status');
    expect(await readdir(dir)).toEqual([]);
  });

  it('verifies TLS: without the test CA the self-signed server is refused', async () => {
    const error = await install('/bin', { ca: undefined }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BinaryDownloadError);
    expect((error as BinaryDownloadError).code).toBe('binary-download-failed');
    expect(String((error as BinaryDownloadError).cause)).toMatch(/self[- ]signed|certificate/i);
    expect(seen).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
  });

  it('gives up at the deadline on a stalled body and leaves nothing behind', async () => {
    const error = await install('/stall', { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BinaryDownloadError);
    expect((error as BinaryDownloadError).message).toMatch(/within 500 ms/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('fails as unreachable when the proxy is not there', async () => {
    const error = await install('/bin', { socksProxy: `socks5h://127.0.0.1:${await freePort()}` }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BinaryDownloadError);
    expect((error as BinaryDownloadError).exitCode).toBe(4);
    expect(await readdir(dir)).toEqual([]);
  });
});
