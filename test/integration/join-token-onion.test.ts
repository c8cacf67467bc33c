/**
 * Joining a controller whose NATS is an onion, with the real Debian `tor` as the device's tor
 * (network disabled: what it proves is that it loads the keys the agent writes, on SIGHUP) and a
 * SOCKS5 stand-in for Tor's circuits. The stand-in connects an `<onion>:4222` CONNECT (asked by name,
 * never resolved locally) to the loopback nats-server only once the device's tor holds a client-auth
 * key for that onion, as a real onion with client authorization would — and records which key.
 *
 * Proved: the join dials the onion by name through SOCKS; the token's one-time key is what opens it
 * during the join; afterwards the device's own key replaces it (tor reloaded); the agent config gets
 * the onion url and the SOCKS port; and the output names neither the onion nor a key.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { base32nopad } from '@scure/base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomOnionKeys } from '#shared/crypto/onion.ts';
import { parseJoinToken } from '#shared/schema/join-token.ts';
import { BIN, onionfleet, runBin } from '../support/cli.ts';
import { FleetHarness } from '../support/fleet-harness.ts';
import { freePort, stopChild, until } from '../support/processes.ts';

const CLIENT_AUTH_DIR = '/var/lib/tor/onionfleet-client-auth';
const onion = randomOnionKeys().hostname;

let h: FleetHarness;
let tor: ChildProcess;
let torLog = '';
let controlPort: number;
let socks: Server;
let socksPort: number;
/** Each CONNECT the stand-in received, and the key the device's tor held for the onion at that moment. */
const connects: { host: string; port: number; atyp: number; key: string | null }[] = [];
let root: string;
let config: string;

/** tor's `ONION_CLIENT_AUTH_VIEW`: the x25519 key (base64) it holds for `address`, or null. */
function clientAuthKey(address: string): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const s = connect(controlPort, '127.0.0.1');
    let text = '';
    s.on('data', (b: Buffer) => { text += b.toString(); });
    s.on('error', reject);
    s.on('close', () => {
      resolve(new RegExp(`^250-CLIENT ${address.replace('.onion', '')} x25519:(\\S+)`, 'm').exec(text)?.[1] ?? null);
    });
    s.write('AUTHENTICATE\r\nONION_CLIENT_AUTH_VIEW\r\nQUIT\r\n');
  });
}

const base64Of = (base32: string) => Buffer.from(base32nopad.decode(base32)).toString('base64');

/** SOCKS5, no auth, CONNECT by domain name only; forwards to nats once tor holds a key for the onion. */
function socksStandIn(natsPort: number): Server {
  return createServer((client: Socket) => {
    let buffer = Buffer.alloc(0);
    let greeted = false;
    let requested = false;
    client.on('error', () => undefined);
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!greeted && buffer.length >= 2 && buffer.length >= 2 + buffer[1]!) {
        buffer = buffer.subarray(2 + buffer[1]!);
        greeted = true;
        client.write(Buffer.from([0x05, 0x00]));
      }
      if (!greeted || requested || buffer.length < 5 || buffer.length < 7 + buffer[4]!) return;
      requested = true;
      client.off('data', onData);
      client.pause();
      const len = buffer[4]!;
      const request = { atyp: buffer[3]!, host: buffer.subarray(5, 5 + len).toString('latin1'), port: buffer.readUInt16BE(5 + len) };
      void until('tor to hold a key for the onion', () => clientAuthKey(request.host), 10_000).catch(() => null).then((key) => {
        connects.push({ ...request, key });
        if (key === null || request.host !== onion) {
          client.end(Buffer.from([0x05, 0xf4, 0x00, 0x01, 0, 0, 0, 0, 0, 0])); // client auth missing
          return;
        }
        const upstream = connect(natsPort, '127.0.0.1', () => {
          client.write(Buffer.from([0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0, 0]));
          upstream.pipe(client);
          client.pipe(upstream);
          client.resume();
        });
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
      });
    };
    client.on('data', onData);
  });
}

beforeAll(async () => {
  if (spawnSync('tor', ['--version']).error !== undefined) throw new Error('this test needs Debian\'s tor on PATH; run: bash deploy/dev-deps.sh');
  h = await FleetHarness.create();
  await h.startServe();
  const dir = join(h.dir, 'devices/pi-onion');
  root = join(dir, 'root');
  config = join(dir, 'agent.json');
  mkdirSync(join(root, CLIENT_AUTH_DIR), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'tor-data'), { mode: 0o700 });
  controlPort = await freePort();
  const torrc = join(dir, 'torrc');
  writeFileSync(torrc, [
    `DataDirectory ${join(dir, 'tor-data')}`, 'DisableNetwork 1', 'SocksPort 0', `ControlPort 127.0.0.1:${controlPort}`,
    `ClientOnionAuthDir ${join(root, CLIENT_AUTH_DIR)}`, `PidFile ${join(dir, 'tor.pid')}`, 'Log notice stdout', '',
  ].join('\n'));
  tor = spawn('tor', ['-f', torrc, '--defaults-torrc', '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
  tor.stdout!.on('data', (b: Buffer) => { torLog += b.toString(); });
  tor.stderr!.on('data', (b: Buffer) => { torLog += b.toString(); });
  await until('tor to open its control port', () => {
    if (tor.exitCode !== null) throw new Error(`tor exited: ${torLog}`);
    return /Opened Control listener/.test(torLog) ? true : null;
  }, 30_000);
  writeFileSync(config, JSON.stringify({ root, services: 'supervisor', system: 'sandbox', tor: { pidFile: join(dir, 'tor.pid') } }));
  socks = socksStandIn(Number(new URL(h.natsUrl().replace('nats:', 'http:')).port));
  await new Promise<void>((resolve) => socks.listen(0, '127.0.0.1', resolve));
  socksPort = (socks.address() as { port: number }).port;
}, 90_000);

afterAll(async () => {
  await new Promise((resolve) => socks.close(resolve));
  await stopChild(tor);
  await h.stop();
}, 60_000);

describe('join through an onion', () => {
  it('opens the onion with the token\'s key, then leaves the device\'s own key in tor', async () => {
    const created = await onionfleet('token', 'create', '--operator', 'ivan', '--nats-url', `nats://${onion}:4222`, '--state', h.state, '--json');
    expect(created.code, created.stderr).toBe(0);
    const line = (JSON.parse(created.stdout) as { token: string }).token;
    const token = parseJoinToken(line);
    const tokenFile = join(h.dir, 'token');
    writeFileSync(tokenFile, line, { mode: 0o600 });

    const run = await runBin(BIN.agent, ['join', '--device', 'pi-onion', '--token-file', tokenFile, '--config', config, '--socks', `127.0.0.1:${socksPort}`]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^pending approval: ask the admin to run `onionfleet device approve pi-onion`/);

    // Dialled by name (SOCKS5 domain type 3), opened by the token's one-time key.
    expect(connects).toEqual([{ atyp: 3, host: onion, port: 4222, key: base64Of(token.onionClientKey) }]);

    // Afterwards: the device's own key, in the file and loaded by tor (reloaded by SIGHUP).
    const own = readFileSync(join(root, 'etc/onionfleet/keys/onion-client.key'), 'utf8').trim();
    const authFile = join(root, CLIENT_AUTH_DIR, 'controller.auth_private');
    expect(readFileSync(authFile, 'utf8')).toBe(`${onion.replace('.onion', '')}:descriptor:x25519:${own}\n`);
    expect(statSync(authFile).mode & 0o777).toBe(0o600);
    await until('tor to load the device\'s own key', async () => ((await clientAuthKey(onion)) === base64Of(own) ? true : null), 10_000);

    const written = JSON.parse(readFileSync(config, 'utf8')) as { nats: unknown; tor: unknown };
    expect(written.nats).toEqual({ url: `nats://${onion}:4222`, socks: `127.0.0.1:${socksPort}` });
    expect(written.tor).toEqual({ pidFile: join(h.dir, 'devices/pi-onion/tor.pid') });
    expect(readFileSync(config, 'utf8')).not.toContain(token.onionClientKey);

    // Neither the onion nor a key in what the join printed.
    for (const secret of [onion.slice(0, 20), token.onionClientKey, own, token.natsSeed, token.secret]) expect(`${run.stdout}${run.stderr}`).not.toContain(secret);
  }, 120_000);
});
