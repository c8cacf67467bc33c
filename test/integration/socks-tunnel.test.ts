/**
 * SocksTunnel through a real SOCKS5 proxy (Debian's microsocks) to the real nats-server: a NATS
 * connection and KV put/get go through it; a target that refuses is reported as 'connection-refused'
 * from the proxy's reply byte, to onError, without crashing anything. The target is given as the
 * name `localhost`: microsocks logs `connected to localhost:<port>` only when the client handed it
 * the name (hostname mode, as Tor needs for .onion), not an address resolved locally.
 *
 * Tor's extended reply codes (0xF0…0xF7) cannot come from microsocks, so a tiny fake SOCKS5 server
 * in this file answers them, for the classification only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderNatsConfig } from '../../controller/nats-server/config.ts';
import { NatsServer } from '../../controller/nats-server/server.ts';
import { connectNats, NatsUnreachableError } from '#shared/nats/connect.ts';
import { getEntry, openDesired } from '#shared/nats/kv.ts';
import { SocksTunnel, socksReplyError, TunnelError } from '#shared/tor/socks-tunnel.ts';
import { freePort, stopChild, until } from '../support/processes.ts';

const ONION = 'secretsecretsecretsecretsecretsecretsecretsecretsecretxx.onion';
const controller = createUser();
let dir: string;
let server: NatsServer;
let proxy: ChildProcess;
let proxyPort: number;
let proxyLog = '';
const tunnels: SocksTunnel[] = [];

async function openTunnel(options: Omit<Parameters<typeof SocksTunnel.open>[0], 'socks'> & { socksPort?: number }): Promise<SocksTunnel> {
  const { socksPort, ...rest } = options;
  const tunnel = await SocksTunnel.open({ socks: { host: '127.0.0.1', port: socksPort ?? proxyPort }, ...rest });
  tunnels.push(tunnel);
  return tunnel;
}

/** Errors reported by a tunnel, and a way to wait for the next one. */
function collector() {
  const seen: TunnelError[] = [];
  return { seen, onError: (e: TunnelError) => { seen.push(e); }, next: (n = 1) => until(`${n} tunnel error(s)`, () => (seen.length >= n ? seen[n - 1]! : null), 10_000) };
}

/** Connects a raw client to the tunnel and resolves with what it receives until the tunnel closes it. */
function rawThrough(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk: Buffer) => { data += chunk.toString('latin1'); });
    socket.on('error', reject);
    socket.on('close', () => { resolve(data); });
  });
}

beforeAll(async () => {
  if (spawnSync('microsocks', ['-h']).error !== undefined) throw new Error('this test needs microsocks on PATH; run: bash deploy/dev-deps.sh');
  dir = await mkdtemp(join(tmpdir(), 'onionfleet-tunnel-'));
  await writeFile(join(dir, 'nats.conf'), renderNatsConfig({ port: await freePort(), storeDir: join(dir, 'store'), controllerUser: controller.getPublicKey(), agents: [] }));
  server = await NatsServer.start({ configPath: join(dir, 'nats.conf') });
  proxyPort = await freePort();
  proxy = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(proxyPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
  proxy.stdout!.on('data', (b: Buffer) => { proxyLog += b.toString(); });
  proxy.stderr!.on('data', (b: Buffer) => { proxyLog += b.toString(); });
  await until('microsocks to listen', () => new Promise<true | null>((resolve) => {
    const probe = connect(proxyPort, '127.0.0.1');
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => { resolve(null); });
  }), 10_000);
});

afterAll(async () => {
  for (const tunnel of tunnels) await tunnel.close();
  await stopChild(proxy);
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('SocksTunnel through microsocks', () => {
  it('carries a NATS connection: KV put and get work, and the proxy was handed the name', async () => {
    const errors = collector();
    const tunnel = await openTunnel({ target: { host: 'localhost', port: server.port }, onError: errors.onError });
    const nc = await connectNats({ servers: `nats://127.0.0.1:${tunnel.port}`, nkeySeed: controller.getSeed(), name: 'controller', timeoutMs: 5_000 });
    const kv = await openDesired(nc, { create: true });
    const revision = await kv.put('pi-1', new TextEncoder().encode('through the tunnel'));
    expect(await getEntry(kv, 'pi-1')).toMatchObject({ revision });
    await until('microsocks to log the name', () => (proxyLog.includes(`connected to localhost:${server.port}`) ? true : null), 5_000);

    // Closing the tunnel cuts the connection (the client would reconnect through a new one).
    const disconnected = (async () => { for await (const s of nc.status()) if (s.type === 'disconnect') return true; return false; })();
    await tunnel.close();
    expect(await disconnected).toBe(true);
    await nc.close();
    expect(errors.seen).toEqual([]);
  });

  it('reconnects through the tunnel when the server restarts', async () => {
    const errors = collector();
    const tunnel = await openTunnel({ target: { host: 'localhost', port: server.port }, onError: errors.onError });
    const nc = await connectNats({ servers: `nats://127.0.0.1:${tunnel.port}`, nkeySeed: controller.getSeed(), name: 'controller', timeoutMs: 5_000 });
    const statuses: string[] = [];
    void (async () => { for await (const s of nc.status()) statuses.push(s.type); })();
    const dialsBefore = proxyLog.split(`connected to localhost:${server.port}`).length;
    server.kill();
    await server.exited();
    server = await NatsServer.start({ configPath: join(dir, 'nats.conf') });
    await until('the client to reconnect', () => (statuses.includes('reconnect') ? true : null), 20_000);
    expect(proxyLog.split(`connected to localhost:${server.port}`).length).toBeGreaterThan(dialsBefore);
    expect(new TextDecoder().decode((await getEntry(await openDesired(nc, { create: false }), 'pi-1'))?.value)).toBe('through the tunnel');
    await nc.close();
  });

  it('reports a target that refuses as connection-refused (reply 0x05), closing only that client', async () => {
    const errors = collector();
    const tunnel = await openTunnel({ target: { host: 'localhost', port: await freePort() }, onError: errors.onError });
    expect(await rawThrough(tunnel.port)).toBe('');
    const error = await errors.next();
    expect(error).toBeInstanceOf(TunnelError);
    expect(error).toMatchObject({ reason: 'connection-refused', replyCode: 0x05, quiet: false, code: 'tunnel-failed', exitCode: 4 });
    // NATS through it fails as unreachable, and the tunnel keeps serving.
    await expect(connectNats({ servers: `nats://127.0.0.1:${tunnel.port}`, nkeySeed: controller.getSeed(), name: 'c', timeoutMs: 3_000, reconnect: false }))
      .rejects.toBeInstanceOf(NatsUnreachableError);
    await errors.next(2);
  });

  it('reports a proxy that is not there as proxy-unreachable', async () => {
    const errors = collector();
    const tunnel = await openTunnel({ socksPort: await freePort(), target: { host: ONION, port: 4222 }, onError: errors.onError });
    await rawThrough(tunnel.port);
    const error = await errors.next();
    expect(error.reason).toBe('proxy-unreachable');
    expect(`${error.message} ${error.hint ?? ''}`).not.toContain(ONION);
  });
});

describe('the reply byte, from a fake SOCKS5 server speaking for Tor', () => {
  let fake: Server;
  let fakePort: number;
  const requests: { host: string; port: number; atyp: number }[] = [];
  let answer: number[] = [];

  beforeAll(async () => {
    fake = createServer((socket: Socket) => {
      let buffer = Buffer.alloc(0);
      let greeted = false;
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        if (!greeted && buffer.length >= 2 && buffer.length >= 2 + buffer[1]!) {
          buffer = buffer.subarray(2 + buffer[1]!);
          greeted = true;
          socket.write(Buffer.from([0x05, 0x00]));
        }
        // CONNECT with a domain name: 05 01 00 03 len name port(2)
        if (greeted && buffer.length >= 5 && buffer.length >= 7 + buffer[4]!) {
          const len = buffer[4]!;
          requests.push({ atyp: buffer[3]!, host: buffer.subarray(5, 5 + len).toString('latin1'), port: buffer.readUInt16BE(5 + len) });
          buffer = Buffer.alloc(0);
          socket.end(Buffer.from(answer));
        }
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    fakePort = (fake.address() as { port: number }).port;
  });
  afterAll(async () => { await new Promise((resolve) => fake.close(resolve)); });

  const reply = (code: number): number[] => [0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0];

  for (const [code, reason, quiet] of [[0xf0, 'descriptor-not-found', true], [0xf4, 'client-auth-missing', false]] as const) {
    it(`classifies 0x${code.toString(16)} as ${reason}, naming no onion`, async () => {
      answer = reply(code);
      const errors = collector();
      const tunnel = await openTunnel({ socksPort: fakePort, target: { host: ONION, port: 4222 }, onError: errors.onError });
      await rawThrough(tunnel.port);
      const error = await errors.next();
      expect(error).toMatchObject({ reason, replyCode: code, quiet });
      expect(requests.at(-1)).toEqual({ atyp: 0x03, host: ONION, port: 4222 }); // hostname mode
      expect(JSON.stringify({ m: error.message, h: error.hint, c: String(error.cause) })).not.toContain('secretsecret');
    });
  }

  it('passes on data the proxy sent right behind a success reply', async () => {
    answer = [...reply(0x00), ...Buffer.from('INFO {}\r\n')];
    const errors = collector();
    const tunnel = await openTunnel({ socksPort: fakePort, target: { host: ONION, port: 4222 }, onError: errors.onError });
    expect(await rawThrough(tunnel.port)).toBe('INFO {}\r\n');
    expect(errors.seen).toEqual([]);
  });

  it('maps every RFC 1928 and Tor reply code to a reason', () => {
    const reasons = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7].map((c) => socksReplyError(c).reason);
    expect(reasons).toEqual(['general-failure', 'not-allowed', 'network-unreachable', 'host-unreachable', 'connection-refused', 'ttl-expired',
      'command-not-supported', 'address-type-not-supported', 'descriptor-not-found', 'bad-descriptor', 'intro-failed', 'rendezvous-failed',
      'client-auth-missing', 'client-auth-wrong', 'bad-address', 'intro-timeout']);
    expect(socksReplyError(0x42)).toMatchObject({ reason: 'proxy-protocol-error', replyCode: 0x42 });
    expect(socksReplyError(0xf0).quiet).toBe(true);
    expect(socksReplyError(0xf2).quiet).toBe(false);
  });
});
