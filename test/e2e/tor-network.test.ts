/**
 * A private Tor network on loopback (3 authorities + 3 relays, controller/demo/private-tor/private-network.ts)
 * serving a v3 onion with client authorization, end to end with the real Debian tor:
 * - a service tor whose HiddenServiceDir holds only a Node-written key (shared/crypto/onion.ts) and
 *   `authorized_clients/{alice,bob}.auth`, forwarding to a local TCP echo server;
 * - alice's client tor (ClientOnionAuthDir) reaches it through SOCKS and bytes echo;
 * - a client without a key gets Tor's 0xF4, which our SocksTunnel reports as `client-auth-missing`;
 * - alice revoked (her .auth removed, tor reloaded): a fresh client with her key gets 0xF5, her
 *   running client too once it fetches the descriptor again, and bob keeps access;
 * - removing the last client turns client authorization off (Tor's rule: see the last-client test);
 * - every tor listens on 127.0.0.1 only; the network's lines, written as a fragment, pass
 *   `tor --verify-config` when included; every tor started is stopped, by pid.
 * One network for the whole file: starting it costs tens of seconds and ~700 MB.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivateTorNetwork } from '../../controller/demo/private-tor/private-network.ts';
import type { TorProcess } from '../../controller/tor/tor-process.ts';
import { authorizedClientLine, clientAuthKeyPair, clientAuthPrivateLine, randomOnionKeys, type ClientAuthKeyPair } from '#shared/crypto/onion.ts';
import { dialSocks, SocksTunnel, TunnelError } from '#shared/tor/socks-tunnel.ts';
import { listenersOf, pidsWithCommandLine } from '../support/listeners.ts';
import { alive, until } from '../support/processes.ts';

/** docs/reference/tor.md: budget 30–60 s to the first onion connection; allow 180 s, retrying every 2 s on 0xF0. */
const DEADLINE_MS = 180_000;
const RETRY_MS = 2_000;
const ONION_PORT = 80;

let root: string;
let network: PrivateTorNetwork | undefined;
let echo: Server | undefined;
let service: TorProcess;
let hsDir: string;
let onion: string;
let alice: ClientAuthKeyPair;
let bob: ClientAuthKeyPair;
let aliceTor: TorProcess;
let bobTor: TorProcess;
const timings: Record<string, number> = {};
const progress: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'onionfleet-e2e-tor-'));
  let t = Date.now();
  try {
    network = await PrivateTorNetwork.start({ dir: join(root, 'network'), onProgress: (line) => { progress.push(line); } });
  } catch (err) {
    console.error(progress.slice(-40).join('\n'));
    throw err;
  }
  timings.networkReadyMs = Date.now() - t;

  echo = createServer((socket) => { socket.on('error', () => undefined); socket.pipe(socket); });
  await new Promise<void>((resolve) => echo?.listen(0, '127.0.0.1', resolve));
  const echoPort = (echo.address() as { port: number }).port;

  const keys = randomOnionKeys();
  onion = keys.hostname;
  hsDir = join(root, 'service', 'hs');
  await mkdir(join(hsDir, 'authorized_clients'), { recursive: true, mode: 0o700 });
  await writeFile(join(hsDir, 'hs_ed25519_secret_key'), keys.secretKeyFile, { mode: 0o600 });
  alice = clientAuthKeyPair();
  bob = clientAuthKeyPair();
  await writeFile(join(hsDir, 'authorized_clients', 'alice.auth'), `${authorizedClientLine(alice.publicKeyBase32)}\n`, { mode: 0o600 });
  await writeFile(join(hsDir, 'authorized_clients', 'bob.auth'), `${authorizedClientLine(bob.publicKeyBase32)}\n`, { mode: 0o600 });
  t = Date.now();
  service = await network.startTor({
    name: 'service',
    dir: join(root, 'service', 'tor'),
    lines: [`HiddenServiceDir ${hsDir}`, `HiddenServicePort ${ONION_PORT} 127.0.0.1:${echoPort}`],
  });
  timings.serviceBootstrapMs = Date.now() - t;
  await service.control.addEvents('HS_DESC');
});

afterAll(async () => {
  await network?.stop();
  await new Promise((resolve) => { if (echo === undefined) resolve(undefined); else echo.close(resolve); });
  console.info(`tor e2e timings (ms): ${JSON.stringify(timings)}`);
  await rm(root, { recursive: true, force: true });
});

/** A client tor of the network with a SOCKS port and, when given, a ClientOnionAuthDir holding `key` for the onion. */
async function clientTor(name: string, key: ClientAuthKeyPair | null): Promise<TorProcess> {
  const lines: string[] = [];
  if (key !== null) {
    const authDir = join(root, name, 'auth');
    await mkdir(authDir, { recursive: true, mode: 0o700 });
    await writeFile(join(authDir, `${name}.auth_private`), `${clientAuthPrivateLine(onion.slice(0, -'.onion'.length), key.privateKeyBase32)}\n`, { mode: 0o600 });
    lines.push(`ClientOnionAuthDir ${authDir}`);
  }
  if (network === undefined) throw new Error('no network');
  return network.startTor({ name, dir: join(root, name, 'tor'), socks: true, lines });
}

type Attempt = { socket: Socket } | { reply: number | null; error: unknown };

/** One SOCKS5 CONNECT to the onion (shared/tor/socks-tunnel.ts: the `socks` package, the reply byte read off the wire). */
async function socksAttempt(socksPort: number): Promise<Attempt> {
  try {
    return { socket: await dialSocks({ host: '127.0.0.1', port: socksPort }, { host: onion, port: ONION_PORT }, 60_000) };
  } catch (error) {
    return { reply: error instanceof TunnelError ? error.replyCode : null, error };
  }
}

/** Connects through `socksPort`, retrying every 2 s while Tor answers 0xF0 (no descriptor yet). */
async function connectOnion(socksPort: number): Promise<Socket> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const attempt = await socksAttempt(socksPort);
    if ('socket' in attempt) return attempt.socket;
    if (attempt.reply !== 0xf0 || Date.now() > deadline) {
      throw new Error(`SOCKS reply ${attempt.reply === null ? 'none' : `0x${attempt.reply.toString(16)}`}`, { cause: attempt.error });
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

/** Sends `bytes` through `socket` and resolves with what comes back, once as many bytes arrived. */
function echoed(socket: Socket, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= bytes.length) resolve(Buffer.concat(chunks));
    });
    socket.once('error', reject);
    socket.write(bytes);
  });
}

/**
 * The TunnelError our SocksTunnel reports for a connection to the onion through `socksPort`,
 * retrying while it is `descriptor-not-found`. Null when the connection succeeded.
 */
async function tunnelFailure(socksPort: number): Promise<TunnelError | null> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const errors: TunnelError[] = [];
    const tunnel = await SocksTunnel.open({ socks: { host: '127.0.0.1', port: socksPort }, target: { host: onion, port: ONION_PORT }, onError: (e) => { errors.push(e); } });
    try {
      const client = connect(tunnel.port, '127.0.0.1');
      // The tunnel closes (or resets) the client's connection when the SOCKS connection fails.
      const outcome = await new Promise<'echoed' | 'closed'>((resolve) => {
        client.once('data', () => { resolve('echoed'); });
        client.once('close', () => { resolve('closed'); });
        client.on('error', () => undefined);
        client.write('ping');
      });
      client.destroy();
      if (outcome === 'echoed') return null;
      const error = await until('the tunnel to report why it closed', () => errors[0] ?? null, 5_000);
      if (error.reason !== 'descriptor-not-found' || Date.now() > deadline) return error;
    } finally {
      await tunnel.close();
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

/** Resolves once every HS_DESC UPLOAD from now on got its UPLOADED (or FAILED) answer. */
async function descriptorsUploaded(tor: TorProcess): Promise<void> {
  let pending = 0;
  let started = false;
  await tor.control.waitForEvent('the new descriptors to be uploaded to every HSDir', (event) => {
    if (event.type !== 'HS_DESC') return null;
    const action = event.text.split(' ')[0];
    if (action === 'UPLOAD') {
      pending += 1;
      started = true;
    } else if (action === 'UPLOADED' || action === 'FAILED') {
      pending -= 1;
    }
    return started && pending === 0 ? true : null;
  }, 60_000);
}

describe('a private Tor network on loopback', () => {
  it('serves a client-authorized onion: alice connects with her key through SOCKS and bytes echo', async () => {
    expect(network?.pids()).toHaveLength(7); // 3 authorities, 3 relays, the service
    const t = Date.now();
    aliceTor = await clientTor('alice', alice);
    const socket = await connectOnion(aliceTor.socksPort ?? 0);
    timings.firstOnionConnectionMs = Date.now() - t;
    const bytes = randomBytes(64 * 1024);
    expect((await echoed(socket, bytes)).equals(bytes)).toBe(true);
    socket.destroy();
  });

  it('refuses a client without a key with 0xF4, which our SOCKS tunnel reports as client-auth-missing', async () => {
    const noKey = await clientTor('nokey', null);
    const raw = await socksAttempt(noKey.socksPort ?? 0);
    if ('socket' in raw) raw.socket.destroy();
    expect('reply' in raw && raw.reply).toBe(0xf4);

    const error = await tunnelFailure(noKey.socksPort ?? 0);
    expect(error?.reason).toBe('client-auth-missing');
    expect(error?.replyCode).toBe(0xf4);
    expect(error?.message).toContain('requires client authorization');
    expect(error?.hint).toContain('ClientOnionAuthDir');
    expect(`${error?.message} ${error?.hint}`).not.toContain(onion.slice(0, 56));
  });

  it('revokes alice on reload: fresh and refetching clients with her key get 0xF5, bob keeps access', async () => {
    bobTor = await clientTor('bob', bob);
    (await connectOnion(bobTor.socksPort ?? 0)).destroy();

    const uploaded = descriptorsUploaded(service);
    await rm(join(hsDir, 'authorized_clients', 'alice.auth'));
    await service.reload();
    await uploaded;

    // A client that never had the descriptor fetches the new one and cannot decrypt it.
    const aliceAgain = await clientTor('alice2', alice);
    const fresh = await tunnelFailure(aliceAgain.socksPort ?? 0);
    expect(fresh?.reason).toBe('client-auth-wrong');
    expect(fresh?.replyCode).toBe(0xf5);

    // Alice's running tor keeps the old descriptor (and its rendezvous circuit) until it fetches
    // again; NEWNYM drops tor's onion-service client state, so the next connection fetches.
    await aliceTor.control.signal('NEWNYM');
    const refetched = await tunnelFailure(aliceTor.socksPort ?? 0);
    expect(refetched?.reason).toBe('client-auth-wrong');

    // Bob, still authorized, fetches the new descriptor too and gets through.
    await bobTor.control.signal('NEWNYM');
    const socket = await connectOnion(bobTor.socksPort ?? 0);
    const bytes = randomBytes(1024);
    expect((await echoed(socket, bytes)).equals(bytes)).toBe(true);
    socket.destroy();
  });

  it('has every tor listen on 127.0.0.1 only', () => {
    const pids = network?.pids() ?? [];
    expect(pids.length).toBeGreaterThanOrEqual(10);
    for (const pid of pids) {
      const listeners = listenersOf(pid);
      expect(listeners.length, `tor ${pid} listens somewhere (at least its control port)`).toBeGreaterThan(0);
      for (const l of listeners) expect(`${l.address}:${l.port}`, `tor ${pid}`).toMatch(/^127\.0\.0\.1:\d+$/);
    }
    // The relays and authorities listen for relay traffic (ORPort) on loopback too.
    expect(listenersOf(pids[0] ?? 0).length).toBeGreaterThanOrEqual(3); // an authority: ORPort, DirPort, control
  });

  it('turns client authorization off when the last client is removed (Tor\'s rule, which the fleet must guard against)', async () => {
    const uploaded = descriptorsUploaded(service);
    await rm(join(hsDir, 'authorized_clients', 'bob.auth'));
    await service.reload();
    await uploaded;
    const stranger = await clientTor('stranger', null);
    const socket = await connectOnion(stranger.socksPort ?? 0);
    const bytes = randomBytes(256);
    expect((await echoed(socket, bytes)).equals(bytes)).toBe(true);
    socket.destroy();
  });

  it('writes its lines as a torrc fragment that a tor started elsewhere includes and accepts', async () => {
    if (network === undefined) throw new Error('no network');
    const fragment = join(root, 'network.conf');
    await network.writeNetworkTorrc(fragment);
    const lines = (await readFile(fragment, 'utf8')).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines).toEqual(network.networkLines());
    expect(lines.filter((l) => l.startsWith('DirAuthority '))).toHaveLength(3);
    const torrc = join(root, 'elsewhere.torrc');
    await writeFile(torrc, `DataDirectory ${join(root, 'elsewhere')}\nSocksPort 0\n%include ${fragment}\n`);
    const verify = spawnSync('tor', ['--verify-config', '-f', torrc, '--defaults-torrc', '/dev/null'], { encoding: 'utf8' });
    expect(verify.stdout).toContain('Configuration was valid');
    expect(verify.status).toBe(0);
  });

  it('stops exactly the tors it started, and leaves none alive', async () => {
    const pids = network?.pids() ?? [];
    expect(pids.every((pid) => alive(pid))).toBe(true);
    await network?.stop();
    expect(pids.filter((pid) => alive(pid))).toEqual([]);
    // Nor any tor it may have lost track of: no process runs with a torrc under this test's directory.
    expect(pidsWithCommandLine(root)).toEqual([]);
  });
});
