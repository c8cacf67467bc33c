/**
 * The controller's buckets on the real nats-server 2.9: compare-and-set, deletion, history, and the
 * status bucket's value cap — also brought onto a bucket an older onionfleet made without one.
 * (Who may touch the buckets: no party can, see hostile-party.test.ts and the config's unit test.)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderNatsConfig } from '../../controller/nats-server/config.ts';
import { NatsServer } from '../../controller/nats-server/server.ts';
import { connectNats } from '#shared/nats/connect.ts';
import { ConcurrentUpdateError, getEntry, jetStreamFor, openDesired, openStatus, putIfRevision, type KV } from '#shared/nats/kv.ts';
import { STATUS_MAX_BYTES } from '#shared/nats/limits.ts';
import { freePort } from '../support/processes.ts';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array | null | undefined): string | null => (b == null ? null : new TextDecoder().decode(b));

let dir: string;
let server: NatsServer;
let controllerNc: NatsConnection;
let desired: KV;
let status: KV;
const controller = createUser();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'onionfleet-kv-'));
  await writeFile(join(dir, 'nats.conf'), renderNatsConfig({ port: await freePort(), storeDir: join(dir, 'store'), controllerUser: controller.getPublicKey(), agents: [] }));
  server = await NatsServer.start({ configPath: join(dir, 'nats.conf'), logFile: join(dir, 'nats.log') });
  controllerNc = await connectNats({ servers: server.url, nkeySeed: controller.getSeed(), name: 'controller', timeoutMs: 5_000 });
  desired = await openDesired(controllerNc, { create: true });
  status = await openStatus(controllerNc, { create: true });
});

afterAll(async () => {
  await controllerNc.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the controller on the desired bucket', () => {
  it('compare-and-set: create only when absent, update only from the current revision', async () => {
    expect(await getEntry(desired, 'cas')).toBeNull();
    const first = await putIfRevision(desired, 'cas', text('one'), null);
    const lost = await putIfRevision(desired, 'cas', text('again'), null).then(() => null, (e: unknown) => e);
    expect(lost).toBeInstanceOf(ConcurrentUpdateError);
    expect(lost).toMatchObject({ code: 'concurrent-apply', exitCode: 1, key: 'cas' });
    const second = await putIfRevision(desired, 'cas', text('two'), first);
    await expect(putIfRevision(desired, 'cas', text('stale'), first)).rejects.toBeInstanceOf(ConcurrentUpdateError);
    expect(str((await getEntry(desired, 'cas'))?.value)).toBe('two');
    expect((await getEntry(desired, 'cas'))?.revision).toBe(second);
  });

  it('a deleted key reads as null and can be created again', async () => {
    await desired.delete('cas');
    expect(await getEntry(desired, 'cas')).toBeNull();
    await putIfRevision(desired, 'cas', text('three'), null);
    expect(str((await getEntry(desired, 'cas'))?.value)).toBe('three');
  });

  it('keeps 10 revisions of a key in desired and 1 in status', async () => {
    expect((await desired.status()).history).toBe(10);
    expect((await status.status()).history).toBe(1);
  });
});


describe('the status bucket', () => {
  it('refuses a value above its cap', async () => {
    await status.put('pi-1', new Uint8Array(STATUS_MAX_BYTES));
    await expect(status.put('pi-1', new Uint8Array(STATUS_MAX_BYTES + 1))).rejects.toThrow(/maximum/i);
    expect((await getEntry(status, 'pi-1'))?.value.byteLength).toBe(STATUS_MAX_BYTES);
  });

  it('gets the cap when an older onionfleet made it without one, keeping its values', async () => {
    const jsm = await jetStreamFor(controllerNc).jetstreamManager();
    await jsm.streams.delete('KV_status');
    const old = await new Kvm(jetStreamFor(controllerNc)).create('status', { history: 1, allow_direct: true });
    await old.put('pi-9', text('kept'));
    expect((await jsm.streams.info('KV_status')).config.max_msg_size).toBe(-1);
    const reopened = await openStatus(controllerNc, { create: true });
    expect((await jsm.streams.info('KV_status')).config.max_msg_size).toBe(STATUS_MAX_BYTES);
    expect(str((await getEntry(reopened, 'pi-9'))?.value)).toBe('kept');
  });
});
