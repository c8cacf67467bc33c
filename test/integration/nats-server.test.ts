/**
 * NatsServer against the real nats-server 2.9: start and stop, reload adding and removing an agent
 * user (a removed user is cut off and then refused), a refused reload keeps the old config, a
 * killed server restarted on the same store keeps its KV data, and the typed start failures.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { renderNatsConfig, type NatsAgentUser } from '../../controller/nats-server/config.ts';
import { NatsServer, NatsServerMissingError } from '../../controller/nats-server/server.ts';
import { OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { connectNats, NatsAuthFailedError, NatsUnreachableError } from '#shared/nats/connect.ts';
import { getEntry, openDesired } from '#shared/nats/kv.ts';
import { moveStoreToControlAccount } from '../../controller/nats-server/store-migration.ts';
import { alive, freePort, until } from '../support/processes.ts';

const controller = createUser();
const newcomer = createUser();
let dir: string;
let port: number;
const started: NatsServer[] = [];

async function writeConfig(file: string, agents: readonly NatsAgentUser[], storeDir = join(dir, 'store')): Promise<string> {
  const path = join(dir, file);
  await writeFileAtomic(path, renderNatsConfig({ port, storeDir, controllerUser: controller.getPublicKey(), agents }), { mode: 0o600 });
  return path;
}

async function start(configPath: string): Promise<NatsServer> {
  const server = await NatsServer.start({ configPath, logFile: join(dir, 'nats.log'), readyTimeoutMs: 10_000 });
  started.push(server);
  return server;
}

const connectAs = (server: Pick<NatsServer, 'url'>, who: 'controller' | 'newcomer', reconnect = true, timeoutMs = 3_000) => connectNats({
  servers: server.url,
  nkeySeed: (who === 'controller' ? controller : newcomer).getSeed(),
  name: who,
  timeoutMs,
  reconnect,
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'onionfleet-natsserver-'));
  port = await freePort();
});

afterEach(async () => {
  for (const server of started.splice(0)) await server.stop();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('NatsServer', () => {
  it('starts from a rendered config, reports its url and pid, logs to the file, and stops', async () => {
    const server = await start(await writeConfig('plain.conf', []));
    expect(server.url).toBe(`nats://127.0.0.1:${port}`);
    expect(alive(server.pid)).toBe(true);
    const nc = await connectAs(server, 'controller');
    expect(nc.info?.port).toBe(port);
    await nc.close();
    await server.stop();
    expect(server.running).toBe(false);
    expect(alive(server.pid)).toBe(false);
    expect(await readFile(join(dir, 'nats.log'), 'utf8')).toContain('Server is ready');
    await server.stop(); // idempotent
  });

  it('reload adds an agent user, then removing it cuts the agent off and refuses it', async () => {
    const server = await start(await writeConfig('users.conf', []));
    await expect(connectAs(server, 'newcomer', false)).rejects.toBeInstanceOf(NatsAuthFailedError);

    await writeConfig('users.conf', [{ device: 'newcomer', natsUser: newcomer.getPublicKey() }]);
    await server.reload();
    const nc = await connectAs(server, 'newcomer', false);
    const closed = nc.closed();

    await writeConfig('users.conf', []);
    await server.reload();
    await until('the removed user to be disconnected', async () => (nc.isClosed() ? await closed.then(() => true) : null), 5_000);
    const refused = await connectAs(server, 'newcomer', false).then(() => null, (e: unknown) => e);
    expect(refused).toBeInstanceOf(NatsAuthFailedError);
    expect((refused as NatsAuthFailedError).hint).toContain('enroll');
  });

  it('a refused reload keeps the server running on its old config', async () => {
    const server = await start(await writeConfig('reload-bad.conf', []));
    await writeConfig('reload-bad.conf', [], join(dir, 'other-store')); // store_dir cannot change on reload
    const failure = await server.reload().then(() => null, (e: unknown) => e);
    expect(failure).toBeInstanceOf(OperationFailedError);
    expect((failure as OperationFailedError).code).toBe('nats-reload-failed');
    expect(server.running).toBe(true);
    const nc = await connectAs(server, 'controller');
    await nc.close();
  });

  it('killed and started again on the same store, it keeps the KV data', async () => {
    const configPath = await writeConfig('durable.conf', []);
    const first = await start(configPath);
    const nc = await connectAs(first, 'controller', false);
    const kv = await openDesired(nc, { create: true });
    const revision = await kv.put('pi-1', new TextEncoder().encode('kept'));
    first.kill();
    await first.exited();
    expect(alive(first.pid)).toBe(false);
    await nc.closed();

    const second = await start(configPath);
    expect(second.pid).not.toBe(first.pid);
    const again = await connectAs(second, 'controller', false);
    const entry = await getEntry(await openDesired(again, { create: false }), 'pi-1');
    expect(entry?.revision).toBe(revision);
    expect(new TextDecoder().decode(entry?.value)).toBe('kept');
    await again.close();
  });

  it('a store of the global account (before accounts) moves to CONTROL once, its buckets and revisions intact', async () => {
    const storeDir = join(dir, 'store-before-accounts');
    const old = join(dir, 'before-accounts.conf');
    await writeFileAtomic(old, `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${storeDir}" }\nauthorization { users: [ { nkey: "${controller.getPublicKey()}" } ] }\n`);
    const before = await start(old);
    const nc = await connectAs(before, 'controller', false);
    const revision = await (await openDesired(nc, { create: true })).put('pi-1', new TextEncoder().encode('from $G'));
    await nc.close();
    await before.stop();

    expect(await moveStoreToControlAccount(storeDir)).toBe(true);
    expect(await moveStoreToControlAccount(storeDir)).toBe(false); // once
    const after = await start(await writeConfig('after-accounts.conf', [], storeDir));
    const again = await connectAs(after, 'controller', false);
    const entry = await getEntry(await openDesired(again, { create: false }), 'pi-1');
    expect({ revision: entry?.revision, value: new TextDecoder().decode(entry?.value) }).toEqual({ revision, value: 'from $G' });
    await again.close();
  });

  it('connectNats keeps trying the first connection until the server comes up', async () => {
    const configPath = await writeConfig('late.conf', []);
    const connecting = connectAs({ url: `nats://127.0.0.1:${port}` }, 'controller', true, 20_000);
    const server = await start(configPath);
    const nc = await connecting;
    expect(nc.info?.port).toBe(server.port);
    await nc.close();
  });

  it('connectNats gives up at its deadline, or at once without reconnect, as nats-unreachable (exit 4)', async () => {
    const nowhere = { url: `nats://127.0.0.1:${await freePort()}` };
    for (const reconnect of [true, false]) {
      const failure = await connectAs(nowhere, 'controller', reconnect, 1_000).then(() => null, (e: unknown) => e);
      expect(failure).toBeInstanceOf(NatsUnreachableError);
      expect(failure).toMatchObject({ code: 'nats-unreachable', exitCode: 4, hint: 'is `onionfleet serve` running?' });
    }
  });

  it('connectNats stops retrying when its signal aborts', async () => {
    const stop = new AbortController();
    const connecting = connectNats({ servers: `nats://127.0.0.1:${await freePort()}`, nkeySeed: controller.getSeed(), name: 'c', timeoutMs: 60_000, signal: stop.signal });
    stop.abort(new Error('shutting down'));
    await expect(connecting).rejects.toThrow('shutting down');
  });

  it('a missing binary is a typed error with the dev-deps hint', async () => {
    const failure = await NatsServer.start({ configPath: join(dir, 'plain.conf'), binary: join(dir, 'no-such-nats-server') }).then(() => null, (e: unknown) => e);
    expect(failure).toBeInstanceOf(NatsServerMissingError);
    expect((failure as NatsServerMissingError).hint).toContain('bash deploy/dev-deps.sh');
  });

  it('a config nats-server rejects fails the start with the server\'s message', async () => {
    const path = join(dir, 'broken.conf');
    await writeFileAtomic(path, 'listen: "127.0.0.1:1"\nauthorization { users: [ { nkey: $UNDEFINED } ] }\n');
    const failure = await NatsServer.start({ configPath: path }).then(() => null, (e: unknown) => e);
    expect(failure).toBeInstanceOf(OperationFailedError);
    expect((failure as OperationFailedError).code).toBe('nats-server-failed');
    expect((failure as Error).message).toContain('variable reference');
  });

  it('a server that never becomes ready is killed at the deadline', async () => {
    const fake = join(dir, 'silent-server.sh');
    const pidFile = join(dir, 'silent.pid');
    await writeFileAtomic(fake, `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 60\n`, { mode: 0o755 });
    const failure = await NatsServer.start({ configPath: join(dir, 'plain.conf'), binary: fake, readyTimeoutMs: 500 }).then(() => null, (e: unknown) => e);
    expect((failure as OperationFailedError).code).toBe('nats-server-failed');
    expect((failure as Error).message).toContain('timed out');
    expect(alive(Number(await readFile(pidFile, 'utf8')))).toBe(false);
  });
});
