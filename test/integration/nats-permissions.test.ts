/**
 * The per-agent permissions of nats.md against the real nats-server 2.9: a controller and two agents
 * A and B (nkeys from @nats-io/nkeys), each agent with its own inbox prefix. A can read and watch its
 * own desired key and write its own status; B can do none of that to A's keys, cannot write any
 * desired key, cannot create buckets and cannot listen below A's inbox prefix.
 *
 * Forbidden requests fail promptly: the server answers with "Permissions Violation", and the client
 * rejects the pending request with it (and reports it on the connection's status stream).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser, type KeyPair } from '@nats-io/nkeys';
import { PermissionViolationError, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderNatsConfig } from '../../controller/nats-server/config.ts';
import { NatsServer } from '../../controller/nats-server/server.ts';
import { connectNats } from '../../shared/nats/connect.ts';
import { ConcurrentUpdateError, getEntry, jetStreamFor, openBucket, openDesired, openStatus, putIfRevision, watchKey, type KV, type KvChange } from '../../shared/nats/kv.ts';
import { inboxPrefix } from '../../shared/nats/names.ts';
import { freePort, until } from '../support/processes.ts';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array | null | undefined): string | null => (b == null ? null : new TextDecoder().decode(b));

interface Agent { nc: NatsConnection; desired: KV; status: KV; violations: PermissionViolationError[] }

let dir: string;
let server: NatsServer;
let controllerNc: NatsConnection;
let desired: KV;
let status: KV;
let a: Agent;
let b: Agent;
let control: Agent;
const connections: NatsConnection[] = [];
const users: Record<string, KeyPair> = { controller: createUser(), a: createUser(), b: createUser(), 'fc-control': createUser() };

async function connectAgent(device: string): Promise<Agent> {
  const nc = await connectNats({ servers: server.url, nkeySeed: users[device]!.getSeed(), name: device, inboxPrefix: inboxPrefix(device), timeoutMs: 5_000 });
  connections.push(nc);
  const violations: PermissionViolationError[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error' && s.error instanceof PermissionViolationError) violations.push(s.error);
  })();
  // A short API timeout: nothing here should wait for one, and a mistake fails fast.
  const js = jetStreamFor(nc, 3_000);
  return { nc, desired: await openDesired(js, { create: false }), status: await openStatus(js, { create: false }), violations };
}

/** The PermissionViolationError in `err`'s cause chain, or null. */
function violation(err: unknown): PermissionViolationError | null {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof PermissionViolationError) return e;
  return null;
}

async function refusedPublish(operation: Promise<unknown>): Promise<string> {
  const err = await operation.then(() => null, (e: unknown) => e);
  const pv = violation(err);
  if (pv === null) throw new Error(`expected a permission violation, got ${String(err)}`);
  expect(pv.operation).toBe('publish');
  return pv.subject;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'onionfleet-natsperm-'));
  const config = renderNatsConfig({
    port: await freePort(),
    storeDir: join(dir, 'store'),
    controllerUser: users.controller!.getPublicKey(),
    agents: ['a', 'b', 'fc-control'].map((device) => ({ device, natsUser: users[device]!.getPublicKey() })),
  });
  // The control user: nats.md's list minus both ways to answer flow control (a negative control for
  // the flow-control test below, proving that test's burst does trigger flow control).
  const controlBlock = config.indexOf('# agent fc-control');
  const stripped = config.slice(0, controlBlock)
    + config.slice(controlBlock).replace(', "$JS.FC.KV_desired.>"', '').replace('        allow_responses: true\n', '');
  expect(stripped).not.toBe(config);
  await writeFile(join(dir, 'nats.conf'), stripped);
  server = await NatsServer.start({ configPath: join(dir, 'nats.conf'), logFile: join(dir, 'nats.log') });

  controllerNc = await connectNats({ servers: server.url, nkeySeed: users.controller!.getSeed(), name: 'controller', timeoutMs: 5_000 });
  connections.push(controllerNc);
  desired = await openDesired(controllerNc, { create: true });
  status = await openStatus(controllerNc, { create: true });
  await desired.put('a', text('for-a'));
  await desired.put('b', text('for-b'));
  await desired.put('fc-control', text('for-control'));
  [a, b, control] = await Promise.all([connectAgent('a'), connectAgent('b'), connectAgent('fc-control')]);
});

afterAll(async () => {
  for (const nc of connections) await nc.close();
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

describe('agent A on its own keys', () => {
  it('gets its desired key (DIRECT.GET scoped to the key)', async () => {
    expect(str((await getEntry(a.desired, 'a'))?.value)).toBe('for-a');
  });

  it('watches its desired key: the current value, then an update', async () => {
    const seen: KvChange[] = [];
    const stop = new AbortController();
    const watching = watchKey(a.desired, 'a', (c) => { seen.push(c); }, stop.signal);
    await until('the current value', () => (seen.length > 0 ? true : null), 5_000);
    expect(str(seen[0]!.value)).toBe('for-a');
    const revision = await desired.put('a', text('for-a v2'));
    await until('the update', () => seen.find((c) => c.revision === revision) ?? null, 5_000);
    expect(str(seen.at(-1)!.value)).toBe('for-a v2');
    await desired.delete('a');
    await until('the deletion', () => (seen.at(-1)!.value === null ? true : null), 5_000);
    await desired.put('a', text('for-a'));
    stop.abort();
    await watching;
  });

  it('puts its status, which the controller reads', async () => {
    const revision = await a.status.put('a', text('a is fine'));
    const entry = await getEntry(status, 'a');
    expect({ value: str(entry?.value), revision: entry?.revision }).toEqual({ value: 'a is fine', revision });
  });

  it('cannot read another agent\'s desired key either', async () => {
    expect(await refusedPublish(getEntry(a.desired, 'b'))).toBe('$JS.API.DIRECT.GET.KV_desired.$KV.desired.b');
  });
});

describe('agent B on A\'s keys and on desired', () => {
  it('cannot get desired.a', async () => {
    expect(await refusedPublish(getEntry(b.desired, 'a'))).toBe('$JS.API.DIRECT.GET.KV_desired.$KV.desired.a');
  });

  it('cannot watch desired.a', async () => {
    const seen: KvChange[] = [];
    const subject = await refusedPublish(watchKey(b.desired, 'a', (c) => { seen.push(c); }, new AbortController().signal));
    expect(subject).toMatch(/^\$JS\.API\.CONSUMER\.CREATE\.KV_desired\.[^.]+\.\$KV\.desired\.a$/);
    expect(seen).toEqual([]);
  });

  it('cannot put status.a', async () => {
    const before = await getEntry(status, 'a');
    expect(await refusedPublish(b.status.put('a', text('forged by b')))).toBe('$KV.status.a');
    expect((await getEntry(status, 'a'))?.revision).toBe(before?.revision);
  });

  it('cannot put any desired key, not even its own', async () => {
    expect(await refusedPublish(b.desired.put('b', text('forged by b')))).toBe('$KV.desired.b');
    expect(await refusedPublish(b.desired.put('a', text('forged by b')))).toBe('$KV.desired.a');
    expect(str((await getEntry(desired, 'b'))?.value)).toBe('for-b');
  });

  it('cannot create a bucket (refused at the first JetStream API call)', async () => {
    const subject = await refusedPublish(openBucket(jetStreamFor(b.nc, 3_000), 'rogue', { create: true, history: 1 }));
    expect(subject).toMatch(/^\$JS\.API\.(INFO|STREAM\.)/);
  });

  it('cannot subscribe below A\'s inbox prefix, so it never sees A\'s replies', async () => {
    const sub = b.nc.subscribe('_INBOX_a.>');
    const closed = await sub.closed;
    expect(closed).toBeInstanceOf(PermissionViolationError);
    expect((closed as PermissionViolationError).operation).toBe('subscription');
    await until('the violation on B\'s status stream', () => b.violations.find((v) => v.operation === 'subscription' && v.subject === '_INBOX_a.>') ?? null, 5_000);
    // A's request/reply still works, and B's refused subscription got none of it.
    expect(str((await getEntry(a.desired, 'a'))?.value)).toMatch(/^for-a/);
    expect(sub.getReceived()).toBe(0);
  });
});

describe('flow control', () => {
  // 200 values of 100 KB put at once make the server ask the watcher for flow-control acks; the
  // control user (no allow_responses, no $JS.FC) shows that it does, by being refused.
  const burst = async (key: string): Promise<number> =>
    Math.max(...await Promise.all(Array.from({ length: 200 }, (_, i) => desired.put(key, new Uint8Array(100_000).fill(i)))));

  it('a watcher of A keeps receiving after flow control kicks in: the last value arrives', async () => {
    let last: KvChange | null = null;
    const stop = new AbortController();
    const watching = watchKey(a.desired, 'a', (c) => { last = c; }, stop.signal);
    await until('the current value', () => last, 5_000);
    const violationsBefore = a.violations.length;
    const final = await burst('a');
    await until(`revision ${final}`, () => (last?.revision === final ? true : null), 10_000);
    expect(last!.value?.[0]).toBe(199);
    expect(a.violations.length).toBe(violationsBefore);
    stop.abort();
    await watching;
  });

  it('(control) the same burst with neither allow_responses nor $JS.FC makes the server refuse the flow-control ack', async () => {
    const stop = new AbortController();
    let changes = 0;
    const watching = watchKey(control.desired, 'fc-control', () => { changes++; }, stop.signal);
    await until('the current value', () => (changes > 0 ? true : null), 5_000);
    await burst('fc-control');
    const refused = await until('a refused flow-control ack', () => control.violations.find((v) => v.subject.startsWith('$JS.FC.KV_desired.')) ?? null, 10_000);
    expect(refused.operation).toBe('publish');
    stop.abort();
    await watching;
  });
});
