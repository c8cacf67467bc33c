/**
 * A hostile Pi and a hostile join-token holder against a real `onionfleet serve` (the Debian
 * nats-server, its gateway) and real agents. The attacker holds pi-1's real nkey seed (or a live join
 * token's) and speaks the NATS protocol itself, so no client library stops it first. Every attempt —
 * direct and reflected writes into other devices' keys, the controller's bucket, `$JS.API.*` (purge,
 * delete, consumer and stream create/update), other parties' subjects and inboxes, join subjects;
 * JetStream and KV headers; consumer, status, request, connection and subscription floods; oversized
 * messages — must fail and leave the bus exactly as it was (read back with the controller's
 * credentials). Positive controls: the device hears its own desired state and writes its own status.
 * Afterwards the fleet still converges on a new apply and `status` works.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, seal } from '#shared/crypto/envelope.ts';
import { connectNats } from '#shared/nats/connect.ts';
import { getEntry, openRestores, openStatus } from '#shared/nats/kv.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { DeviceStatus } from '#shared/schema/status.ts';
import { parseJoinToken, type JoinToken } from '#shared/schema/join-token.ts';
import { snapshotBus, type BusSnapshot } from '../support/bus-snapshot.ts';
import { onionfleet } from '../support/cli.ts';
import { FleetHarness, fleetYaml } from '../support/fleet-harness.ts';
import { until } from '../support/processes.ts';
import { RawNats } from '../support/raw-nats.ts';

const ME = 'pi-1';
const OTHER = 'pi-2';
const DEVICES = [{ id: 'pi-1', operator: 'alice' }, { id: 'pi-2', operator: 'bob' }, { id: 'pi-3', operator: 'bob' }];

let h: FleetHarness;
let controller: NatsConnection;
let token: JoinToken;
let baseline: BusSnapshot;
/** Subjects seen in CONTROL that no attempt may ever produce (another party's, a bucket write, a destructive API call). */
const leaks: string[] = [];
/** Messages the other device's account received while the attacks ran (nothing was applied: must stay 0). */
let otherSpy: RawNats;
const tried: string[] = [];

const keyFile = (id: string, name: string) => readFileSync(join(h.devices.get(id)?.root ?? '', 'etc/onionfleet/keys', name), 'utf8').trim();
const controllerKey = (name: string) => readFileSync(join(h.state, 'keys', name), 'utf8').trim();
const controllerPublic = () => JSON.parse(readFileSync(join(h.state, 'controller.json'), 'utf8')) as { signingKey: string; ageRecipient: string };
const record = (id: string) => JSON.parse(readFileSync(join(h.dir, 'devices', id, 'record.json'), 'utf8')) as { ageRecipient: string; signingKey: string };
const snapshot = () => snapshotBus(controller, { mutableStatus: [ME] });
const asMe = () => RawNats.open(h.natsUrl(), keyFile(ME, 'nats.nk'), 'attacker');
const asJoiner = () => RawNats.open(h.natsUrl(), token.natsSeed, 'attacker-join');

function forbidden(subject: string): boolean {
  return new RegExp([
    `^onionfleet\\.device\\.(?!${ME}\\.)`,
    `^onionfleet\\.join\\.(?!${token.id}\\.)`,
    '^\\$KV\\.(desired|controller)\\.',
    `^\\$KV\\.status\\.(?!${ME}$)`,
    '^\\$JS\\.API\\.(STREAM\\.(PURGE|DELETE|CREATE|UPDATE|MSG\\.DELETE)|CONSUMER\\.DURABLE)',
    '^_INBOX\\.reflected',
  ].join('|')).test(subject);
}

/** Runs one attempt on a fresh connection, waits until it took effect or was refused, and checks the bus is unchanged. */
async function attempt(name: string, as: () => Promise<RawNats>, run: (raw: RawNats) => Promise<void> | void, settle?: (raw: RawNats) => Promise<unknown>): Promise<RawNats> {
  tried.push(name);
  const raw = await as();
  try {
    await run(raw);
    await raw.sync();
    if (settle !== undefined) await settle(raw);
    expect(await snapshot(), `${name}: the bus changed`).toEqual(baseline);
    expect(leaks, `${name}: forbidden subjects appeared in CONTROL`).toEqual([]);
    return raw;
  } finally {
    raw.close();
  }
}

const violation = (raw: RawNats, op: 'Publish' | 'Subscription', subject: string) => raw.errors.some((e) => e.includes(`Permissions Violation for ${op} to "${subject}"`));

/** Waits until the gateway stored `payload` as pi-1's status (proof it handled the message). */
async function statusIs(payload: Uint8Array): Promise<void> {
  const kv = await openStatus(controller, { create: false });
  await until('the gateway to store the status', async () => {
    const entry = await getEntry(kv, ME);
    return entry !== null && Buffer.from(entry.value).equals(Buffer.from(payload)) ? true : null;
  }, 30_000);
}

/** Waits for one more desired-state push on the attacker's own down-tree (proof the gateway answered). */
async function pushArrives(raw: RawNats, before: number): Promise<void> {
  await until('the gateway to answer with a push', () => (raw.msgs.filter((m) => m.subject === `onionfleet.device.${ME}.down.desired`).length > before ? true : null), 30_000);
}

beforeAll(async () => {
  h = await FleetHarness.create();
  await h.startServe();
  for (const d of DEVICES) await h.enroll(d.id);
  for (const d of DEVICES) h.startAgent(d.id);
  const fleet = h.writeFleet(fleetYaml(DEVICES, [{ id: 'fam', smp: 3, xftp: 1 }]));
  const applied = await h.apply(fleet, '--wait', '--timeout', '120');
  if (applied.code !== 0) throw new Error(`apply failed: ${applied.stderr}`);
  const created = await onionfleet('token', 'create', '--operator', 'mallory', '--nats-url', h.natsUrl(), '--state', h.state, '--json');
  if (created.code !== 0) throw new Error(`token create failed: ${created.stderr}`);
  token = parseJoinToken((JSON.parse(created.stdout) as { token: string }).token);
  // Quiet fleet: with the agents stopped nothing but the attacker changes the bus.
  for (const d of DEVICES) await h.stopAgent(d.id);
  controller = await connectNats({ servers: h.natsUrl(), nkeySeed: controllerKey('nats.nk'), name: 'test-controller', timeoutMs: 10_000 });
  // Consumer deliveries (the gateway's watch, the snapshot's reads) carry the stored message's subject
  // and a `$JS.ACK` reply: they are reads, not writes.
  controller.subscribe('>', { callback: (err, msg) => { if (err === null && forbidden(msg.subject) && !(msg.reply ?? '').startsWith('$JS.ACK.')) leaks.push(msg.subject); } });
  otherSpy = await RawNats.open(h.natsUrl(), keyFile(OTHER, 'nats.nk'), 'spy');
  otherSpy.subscribe(`onionfleet.device.${OTHER}.down.>`);
  await otherSpy.sync();
  await controller.flush();
  baseline = await snapshot();
  expect(Object.keys(baseline.keys).filter((k) => k.startsWith('desired/'))).toHaveLength(3);
}, 240_000);

afterAll(async () => {
  otherSpy.close();
  await controller.close();
  await h.stop();
}, 60_000);

/** Subjects an attacker would love to reach, as subject or as reply subject. */
const targets = () => [
  `$KV.desired.${OTHER}`, `$KV.desired.${ME}`, `$KV.status.${OTHER}`, '$KV.controller.plan', `$KV.controller.desired.${OTHER}`,
  '$JS.API.STREAM.PURGE.KV_desired', '$JS.API.STREAM.PURGE.KV_status', '$JS.API.STREAM.PURGE.KV_controller',
  '$JS.API.STREAM.DELETE.KV_desired', '$JS.API.STREAM.DELETE.KV_status', '$JS.API.STREAM.DELETE.KV_controller',
  '$JS.API.CONSUMER.DURABLE.CREATE.KV_desired.evil', `onionfleet.device.${OTHER}.down.desired`,
  `onionfleet.join.${token.id}.down.answer`, `onionfleet.join.${token.id}.up.request`, '_INBOX.reflected',
];

describe('a hostile Pi with its own real credentials', () => {
  it('positive control: hears its own desired state and writes its own status', async () => {
    const raw = await asMe();
    raw.subscribe(`onionfleet.device.${ME}.down.>`);
    raw.publish(`onionfleet.device.${ME}.up.desired`, '{"have":null}');
    await pushArrives(raw, 0);
    const push = raw.msgs[0]!;
    const doc = await open(push.data, { identity: keyFile(ME, 'age.key'), signer: controllerPublic().signingKey, kind: 'desired-state', device: ME, schema: DesiredState });
    expect(doc.body.device).toBe(ME);
    const body: DeviceStatus = { kind: 'onionfleet/status', version: 1, device: ME, desiredRevision: doc.revision, appliedRevision: doc.revision, converged: true, refused: null, error: null, blocked: [], instances: [], observedAt: new Date().toISOString(), agentVersion: 'attacker' };
    const sealed = await seal({ kind: 'status', device: ME, revision: doc.revision, body }, { signingSecretKey: keyFile(ME, 'signing.key'), recipient: controllerPublic().ageRecipient });
    raw.publish(`onionfleet.device.${ME}.up.status`, sealed);
    await statusIs(sealed);
    const stored = await getEntry(await openStatus(controller, { create: false }), ME);
    expect((await open(stored!.value, { identity: controllerKey('age.key'), signer: record(ME).signingKey, kind: 'status', device: ME, schema: DeviceStatus })).body.agentVersion).toBe('attacker');
    raw.close();
    baseline = await snapshot();
  }, 60_000);

  it('cannot publish to any subject but its own two up-subjects: every direct write is refused and changes nothing', async () => {
    const direct = [
      ...targets(),
      '$JS.API.STREAM.CREATE.EVIL', '$JS.API.STREAM.UPDATE.KV_status', '$JS.API.CONSUMER.CREATE.KV_desired', `$JS.API.CONSUMER.CREATE.KV_desired.x.$KV.desired.${OTHER}`,
      `$JS.API.DIRECT.GET.KV_desired.$KV.desired.${OTHER}`, `$JS.API.DIRECT.GET.KV_desired.$KV.desired.${ME}`, '$JS.API.STREAM.MSG.DELETE.KV_desired', '$JS.API.STREAM.MSG.GET.KV_controller',
      '$JS.API.INFO', '$JS.API.STREAM.NAMES', '$JS.FC.KV_desired.x', `$KV.status.${ME}`,
      `onionfleet.device.${OTHER}.up.status`, `onionfleet.device.${OTHER}.up.desired`, `onionfleet.device.${ME}.down.desired`, `onionfleet.device.${ME}.up.other`,
      '$SYS.REQ.SERVER.PING', '$SYS.REQ.ACCOUNT.CONTROL.CONNZ', `_INBOX_${OTHER}.x`,
    ];
    for (const subject of direct) {
      const payload = subject.includes('STREAM.CREATE') ? JSON.stringify({ name: 'EVIL', subjects: ['$KV.>'] }) : subject.includes('PURGE') ? '{}' : 'forged by pi-1';
      const raw = await attempt(`publish ${subject}`, asMe, (r) => { r.publish(subject, payload, { reply: `_INBOX_${ME}.r` }); });
      expect(violation(raw, 'Publish', subject), `publish to ${subject} was not refused: ${raw.errors.join('; ')}`).toBe(true);
    }
    expect(direct.length).toBeGreaterThanOrEqual(35);
  }, 180_000);

  it('reflection: its own requests, answered to any reply subject it names, land nowhere but in its own account', async () => {
    for (const reply of targets()) {
      await attempt(`desired request replying to ${reply}`, asMe, (r) => {
        r.subscribe(`onionfleet.device.${ME}.down.>`);
        r.publish(`onionfleet.device.${ME}.up.desired`, '{"have":null}', { reply });
      }, (r) => pushArrives(r, 0));
      const status = randomBytes(64);
      await attempt(`status replying to ${reply}`, asMe, (r) => { r.publish(`onionfleet.device.${ME}.up.status`, status, { reply }); }, () => statusIs(status));
    }
  }, 240_000);

  it('JetStream and KV headers on its own status act on nothing: rollups, purge and delete markers, expectations, dedupe ids', async () => {
    const headerSets: Record<string, string>[] = [
      { 'Nats-Rollup': 'all' }, { 'Nats-Rollup': 'sub' }, { 'KV-Operation': 'PURGE' }, { 'KV-Operation': 'DEL' },
      { 'Nats-Expected-Last-Sequence': '1' }, { 'Nats-Expected-Stream': 'KV_desired' }, { 'Nats-Msg-Id': 'x', 'Nats-TTL': '1s' },
    ];
    for (const headers of headerSets) {
      const status = randomBytes(64);
      await attempt(`status with ${JSON.stringify(headers)}`, asMe, (r) => { r.publish(`onionfleet.device.${ME}.up.status`, status, { headers }); }, () => statusIs(status));
      const entry = await (await openStatus(controller, { create: false })).get(ME);
      expect(entry?.operation).toBe('PUT');
    }
  }, 120_000);

  it('cannot subscribe to anything but its own down-tree', async () => {
    const subjects = ['>', '$KV.>', '$JS.>', '_INBOX.>', 'onionfleet.>', `onionfleet.device.${OTHER}.down.>`, 'onionfleet.device.*.up.>', `onionfleet.device.${ME}.up.>`, 'onionfleet.join.*.down.>', '$SYS.>', '_R_.>'];
    for (const subject of subjects) {
      const raw = await attempt(`subscribe ${subject}`, asMe, (r) => { r.subscribe(subject); });
      expect(violation(raw, 'Subscription', subject), `subscription to ${subject} was not refused`).toBe(true);
    }
  }, 60_000);

  it('floods are bounded: consumers are never made, a status flood keeps one value (the newest), requests are rate-limited', async () => {
    const consumers = await attempt('50 durable consumer creates', asMe, (r) => {
      for (let i = 0; i < 50; i++) r.publish(`$JS.API.CONSUMER.DURABLE.CREATE.KV_desired.d${i}`, JSON.stringify({ durable_name: `d${i}` }), { reply: `_INBOX_${ME}.c${i}` });
    });
    expect(consumers.errors.filter((e) => e.includes('Permissions Violation'))).toHaveLength(50);

    let last = new Uint8Array();
    await attempt('500 statuses at once', asMe, (r) => {
      for (let i = 0; i < 500; i++) r.publish(`onionfleet.device.${ME}.up.status`, (last = randomBytes(1024)));
    }, () => statusIs(last));
    const info = await (await jetstreamManager(controller)).streams.info('KV_status');
    expect(info.state.messages).toBeLessThanOrEqual(DEVICES.length);

    const started = Date.now();
    const requests = await attempt('300 desired-state requests at once', asMe, async (r) => {
      r.subscribe(`onionfleet.device.${ME}.down.>`);
      for (let i = 0; i < 300; i++) r.publish(`onionfleet.device.${ME}.up.desired`, '{"have":null}');
      await pushArrives(r, 0);
      await r.sync();
    });
    const pushes = requests.msgs.length;
    // A burst of 10, then one a second, and the newest waiting request once its turn comes.
    expect(pushes).toBeLessThanOrEqual(10 + Math.ceil((Date.now() - started) / 1000) + 1);
  }, 120_000);

  it('limits: an oversized message closes its connection and stores nothing; connections and subscriptions per device are capped', async () => {
    // Above the device account's max_payload (a sealed backup's 512 KiB + framing; statuses are capped lower by the gateway).
    for (const size of [600 * 1024, 2 * 1024 * 1024]) {
      const raw = await attempt(`a status of ${size} bytes`, asMe, (r) => { r.publish(`onionfleet.device.${ME}.up.status`, randomBytes(size)); });
      expect(raw.closed || raw.errors.some((e) => /Maximum Payload/i.test(e))).toBe(true);
    }
    tried.push('6 connections at once');
    const opened = await Promise.allSettled(Array.from({ length: 6 }, () => asMe()));
    const ok = opened.filter((o) => o.status === 'fulfilled');
    // At most 4 (a connection closed a moment ago may still count on the server).
    expect(ok.length).toBeGreaterThan(0);
    expect(ok.length).toBeLessThanOrEqual(4);
    for (const o of opened) if (o.status === 'rejected') expect(String(o.reason)).toMatch(/maximum .*connections/i);
    for (const o of ok) o.value.close();
    const subs = await attempt('6 subscriptions on its own down-tree', asMe, (r) => { for (let i = 0; i < 6; i++) r.subscribe(`onionfleet.device.${ME}.down.>`); });
    expect(subs.errors.some((e) => /maximum subscriptions/i.test(e))).toBe(true);
  }, 60_000);

  it('malformed requests and empty statuses are dropped by the gateway', async () => {
    for (const payload of ['not json', '{"have":-1}', '{"have":1e400}', '{"have":null,"extra":1}', '']) {
      const raw = await attempt(`desired request ${JSON.stringify(payload)}`, asMe, async (r) => {
        r.subscribe(`onionfleet.device.${ME}.down.>`);
        r.publish(`onionfleet.device.${ME}.up.desired`, payload);
        // A well-formed request after it: its answer proves the malformed one was handled (dropped) first.
        r.publish(`onionfleet.device.${ME}.up.desired`, '{"have":null}');
        await pushArrives(r, 0);
        await r.sync();
      });
      expect(raw.msgs).toHaveLength(1);
    }
    const empty = await attempt('an empty status', asMe, (r) => { r.publish(`onionfleet.device.${ME}.up.status`, ''); });
    expect(empty.errors).toEqual([]);
  }, 90_000);

  it('restore downloads: it hears its own parts, never another device\'s, whatever reference or reply subject it names', async () => {
    const restores = await openRestores(controller, { create: false });
    const ref = 'abcdef0123456789';
    const mine = randomBytes(200);
    await restores.put(`${OTHER}.${ref}.000`, randomBytes(200));
    await restores.put(`${ME}.${ref}.001`, mine);
    baseline = await snapshot();
    const raw = await attempt('restore requests for another device\'s part, malformed ones, then its own', asMe, async (r) => {
      r.subscribe(`onionfleet.device.${ME}.down.>`);
      for (const request of [{ ref, index: 0 }, `{"ref":"../${OTHER}","index":0}`, `{"ref":"${OTHER}.${ref}","index":0}`, '{"ref":"*","index":0}', { ref, index: 99 }]) {
        r.publish(`onionfleet.device.${ME}.up.restore`, typeof request === 'string' ? request : JSON.stringify(request), { reply: `onionfleet.device.${OTHER}.down.restore` });
      }
      r.publish(`onionfleet.device.${ME}.up.restore`, JSON.stringify({ ref, index: 1 }), { reply: `onionfleet.device.${OTHER}.down.restore` });
      await until('its own part', () => (r.msgs.some((m) => m.subject === `onionfleet.device.${ME}.down.restore`) ? true : null), 30_000);
      await r.sync();
    });
    expect(raw.msgs.filter((m) => m.subject.endsWith('.down.restore')).map((m) => Buffer.from(m.data))).toEqual([mine]);
  }, 90_000);
});

describe('a hostile join-token holder', () => {
  it('positive control: its request is answered on its own down-tree (a junk request: refused, the token unspent)', async () => {
    await attempt('a junk join request', asJoiner, (r) => {
      r.subscribe(`onionfleet.join.${token.id}.down.>`);
      r.publish(`onionfleet.join.${token.id}.up.request`, '{"nonsense":true}');
    }, (r) => until('the answer', () => r.msgs[0] ?? null, 30_000).then((m) => {
      expect(JSON.parse(m.data.toString())).toMatchObject({ ok: false, reason: 'invalid-request' });
    }));
  }, 60_000);

  it('cannot publish anywhere else, reflect its answers, or subscribe anywhere else', async () => {
    for (const subject of [...targets().filter((t) => !t.includes(token.id)), `onionfleet.device.${ME}.up.status`, `onionfleet.join.${token.id}.down.answer`, '$JS.API.INFO']) {
      const raw = await attempt(`joiner publishes ${subject}`, asJoiner, (r) => { r.publish(subject, 'forged by a joiner'); });
      expect(violation(raw, 'Publish', subject)).toBe(true);
    }
    for (const reply of targets()) {
      await attempt(`join request replying to ${reply}`, asJoiner, (r) => {
        r.subscribe(`onionfleet.join.${token.id}.down.>`);
        r.publish(`onionfleet.join.${token.id}.up.request`, '{"nonsense":true}', { reply, headers: { 'Nats-Rollup': 'all' } });
      }, (r) => until('the answer', () => (r.msgs.length > 0 ? true : null), 30_000));
    }
    for (const subject of ['>', 'onionfleet.join.*.down.>', `onionfleet.device.${ME}.down.>`, '$KV.>']) {
      const raw = await attempt(`joiner subscribes ${subject}`, asJoiner, (r) => { r.subscribe(subject); });
      expect(violation(raw, 'Subscription', subject)).toBe(true);
    }
    const big = await attempt('an oversized join request', asJoiner, (r) => { r.publish(`onionfleet.join.${token.id}.up.request`, randomBytes(64 * 1024)); });
    expect(big.closed || big.errors.some((e) => /Maximum Payload/i.test(e))).toBe(true);
  }, 240_000);
});

describe('afterwards', () => {
  it('the other device heard nothing, at least 60 attempts were made, and the fleet still converges with a working status', async () => {
    await otherSpy.sync();
    expect(otherSpy.msgs).toEqual([]);
    expect(leaks).toEqual([]);
    expect(new Set(tried).size).toBeGreaterThanOrEqual(60);
    for (const d of DEVICES) h.startAgent(d.id);
    const grown = h.writeFleet(fleetYaml(DEVICES, [{ id: 'fam', smp: 4, xftp: 1 }]));
    const applied = await h.apply(grown, '--wait', '--timeout', '120');
    expect(applied.code, applied.stderr).toBe(0);
    const status = await h.status();
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { devices: unknown[] }).devices).toHaveLength(3);
  }, 180_000);
});
