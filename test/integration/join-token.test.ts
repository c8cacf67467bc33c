/**
 * Join tokens with a real `onionfleet serve` (the Debian nats-server) and real agent processes:
 * token create → `onionfleet-agent join` → pending in `device list` with the fingerprint the device
 * printed → approve → the device's own nkey reaches the bus (its agent's status arrives). A replayed,
 * expired or tampered token is refused with one clear line and exit 2; a reply from another
 * controller makes the join write nothing; the token's one-time NATS account can publish its join
 * request and nothing else; and no secret of a token appears in any log.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PermissionViolationError, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, NatsAuthFailedError } from '#shared/nats/connect.ts';
import { getEntry, jetStreamFor, openDesired } from '#shared/nats/kv.ts';
import { downTree, upSubject } from '#shared/nats/names.ts';
import { encodeJoinToken, JoinReply, parseJoinToken, type JoinToken } from '#shared/schema/join-token.ts';
import { BIN, onionfleet, runBin, type CliRun } from '../support/cli.ts';
import { FleetHarness } from '../support/fleet-harness.ts';
import { claimPortBlock } from '../support/port-bands.ts';
import { until } from '../support/processes.ts';

const DOUBLES = new URL('../doubles/', import.meta.url).pathname;

let h: FleetHarness;
// The joining devices' port bands: a block of this file's own (see port-bands.ts).
const ports = claimPortBlock();
let joined = 0;
/** Every token line this file made: none may appear in a log. */
const tokens: JoinToken[] = [];

beforeAll(async () => {
  h = await FleetHarness.create();
  await h.startServe();
}, 60_000);

afterAll(async () => {
  await h.stop();
  ports.release();
}, 60_000);

/** `onionfleet token create` for the harness's loopback NATS; returns the token and its file. */
async function createToken(operator: string, expires = '1h'): Promise<{ token: JoinToken; line: string; file: string }> {
  const run = await onionfleet('token', 'create', '--operator', operator, '--expires', expires, '--nats-url', h.natsUrl(), '--state', h.state, '--json');
  expect(run.code, run.stderr).toBe(0);
  const out = JSON.parse(run.stdout) as { id: string; token: string; natsReloaded: boolean };
  expect(out.natsReloaded).toBe(true);
  const token = parseJoinToken(out.token);
  tokens.push(token);
  const file = join(h.dir, `token-${out.id}`);
  writeFileSync(file, `${out.token}\n`, { mode: 0o600 });
  return { token, line: out.token, file };
}

/** A device's directory with an owner-written config (no device, controller or nats yet: join adds them). */
function deviceDir(id: string): { root: string; config: string } {
  const dir = join(h.dir, 'devices', id);
  const root = join(dir, 'root');
  const config = join(dir, 'agent.json');
  mkdirSync(dir, { recursive: true });
  writeFileSync(config, JSON.stringify({
    root, services: 'supervisor', system: 'sandbox', portOffset: ports.offset(joined), heartbeatSeconds: 2,
    binaries: { 'smp-server': join(DOUBLES, 'smp-server'), 'xftp-server': join(DOUBLES, 'xftp-server') },
    limits: { maxInstances: 4, allowedGroups: ['fam'] },
  }));
  joined++;
  return { root, config };
}

/** Everything the joins printed (stdout and stderr): for the secrets test. */
const joinOutput: string[] = [];

async function joinWith(id: string, tokenFile: string, ...extra: string[]): Promise<CliRun> {
  const { config } = deviceDir(id);
  const run = await runBin(BIN.agent, ['join', '--device', id, '--token-file', tokenFile, '--config', config, ...extra]);
  joinOutput.push(run.stdout, run.stderr);
  return run;
}

interface ListedDevice { device: string; state: string; operator: string | null; fingerprint: string; ageFingerprint: string }
async function deviceList(): Promise<ListedDevice[]> {
  const run = await onionfleet('device', 'list', '--state', h.state, '--json');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as ListedDevice[];
}

async function tokenStates(): Promise<Record<string, string>> {
  const run = await onionfleet('token', 'list', '--state', h.state, '--json');
  return Object.fromEntries((JSON.parse(run.stdout) as { id: string; state: string }[]).map((t) => [t.id, t.state]));
}

const natsConfig = () => readFileSync(join(h.state, 'nats/nats.conf'), 'utf8');
const deviceSeed = (id: string) => readFileSync(join(h.dir, 'devices', id, 'root/etc/onionfleet/keys/nats.nk'), 'utf8').trim();

describe('join with a token', () => {
  it('enrolls a device as pending; approved, its own nkey reaches the bus and its status arrives', async () => {
    const { token, file } = await createToken('bob');
    expect(natsConfig()).toContain(`# join token ${token.id}`);
    const run = await joinWith('pi-bob', file, '--json');
    expect(run.code, run.stderr).toBe(0);
    const joined = JSON.parse(run.stdout) as { device: string; state: string; fingerprint: string; ageFingerprint: string; config: string };
    expect(joined).toMatchObject({ device: 'pi-bob', state: 'pending', approve: 'onionfleet device approve pi-bob' });

    // Pending, with the fingerprints the device printed; the token is spent and its user gone.
    expect((await deviceList()).find((d) => d.device === 'pi-bob')).toEqual(expect.objectContaining({ state: 'pending', operator: 'bob', fingerprint: joined.fingerprint, ageFingerprint: joined.ageFingerprint }));
    expect((await tokenStates())[token.id]).toBe('used');
    expect(natsConfig()).not.toContain(token.id);

    // The config got the controller's keys and the NATS url, and kept the owner's limits.
    const config = JSON.parse(readFileSync(joined.config, 'utf8')) as Record<string, unknown>;
    const controller = JSON.parse(readFileSync(join(h.state, 'controller.json'), 'utf8')) as { signingKey: string; ageRecipient: string };
    expect(config).toMatchObject({ device: 'pi-bob', controller: { signingKey: controller.signingKey, ageRecipient: controller.ageRecipient }, nats: { url: h.natsUrl() }, limits: { maxInstances: 4, allowedGroups: ['fam'] } });

    // Pending is not enrolled: the device's own nkey is not a NATS user yet.
    await expect(connectNats({ servers: h.natsUrl(), nkeySeed: deviceSeed('pi-bob'), name: 'pi-bob', timeoutMs: 5_000, reconnect: false })).rejects.toBeInstanceOf(NatsAuthFailedError);

    const approve = await onionfleet('device', 'approve', 'pi-bob', '--fingerprint', joined.fingerprint, '--state', h.state);
    expect(approve.code, approve.stderr).toBe(0);
    expect(approve.stdout).toMatch(/^approved pi-bob \(operator bob, signing key SHA256:.*NATS reloaded/);
    expect((await deviceList()).find((d) => d.device === 'pi-bob')?.state).toBe('enrolled');

    h.devices.set('pi-bob', { id: 'pi-bob', root: join(h.dir, 'devices/pi-bob/root'), config: joined.config, agent: null, log: '' });
    h.startAgent('pi-bob');
    const seen = await until('the status of pi-bob', async () => {
      const s = JSON.parse((await h.status()).stdout) as { devices: { device: string; heartbeatAgeSeconds: number | null }[] };
      return s.devices.find((d) => d.device === 'pi-bob' && d.heartbeatAgeSeconds !== null) ?? null;
    }, 60_000);
    expect(seen.device).toBe('pi-bob');
  }, 120_000);

  it('refuses a replayed token with a clear message (exit 2) and writes nothing', async () => {
    const { file } = await createToken('carol');
    const first = await joinWith('pi-carol', file);
    expect(first.code, first.stderr).toBe(0);
    const replay = await joinWith('pi-mallory', file);
    expect(replay.code, replay.stderr).toBe(2);
    expect(replay.stderr).toMatch(/^join refused: .*already used.*ask the admin for a new one/m);
    expect(existsSync(join(h.dir, 'devices/pi-mallory/root/etc/onionfleet/keys'))).toBe(false);
    expect(JSON.parse(readFileSync(join(h.dir, 'devices/pi-mallory/agent.json'), 'utf8'))).not.toHaveProperty('controller');
    expect((await deviceList()).map((d) => d.device)).not.toContain('pi-mallory');
  }, 60_000);

  it('refuses an expired token (exit 2), and takes its user out of the server config', async () => {
    const { token, file } = await createToken('dave', '1s');
    await until('the token to expire', () => (Date.now() > Date.parse(token.expiresAt) + 50 ? true : null), 10_000);
    expect(natsConfig()).toContain(`# join token ${token.id}`); // nothing has pruned it yet: the responder must refuse
    const run = await joinWith('pi-dave', file);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/^join refused: this join token expired at /m);
    expect((await tokenStates())[token.id]).toBe('expired');
    await until('the expired token\'s user to leave the config', () => (natsConfig().includes(token.id) ? null : true), 15_000);
    expect((await deviceList()).map((d) => d.device)).not.toContain('pi-dave');
  }, 60_000);

  it('refuses a tampered token (wrong secret) without spending it; the real one still works', async () => {
    const { token, file } = await createToken('erin');
    const forged = join(h.dir, 'token-forged');
    writeFileSync(forged, encodeJoinToken({ ...token, secret: Buffer.alloc(32, 7).toString('base64url') }));
    const run = await joinWith('pi-erin', forged);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^join refused: the token's secret does not match/m);
    expect((await tokenStates())[token.id]).toBe('live');
    const real = await joinWith('pi-erin', file);
    expect(real.code, real.stderr).toBe(0);
  }, 60_000);

  it('writes nothing when the reply is not from the controller the token names (exit 1)', async () => {
    const { token } = await createToken('frank');
    const other = join(h.dir, 'token-other-controller');
    writeFileSync(other, encodeJoinToken({ ...token, controller: `SHA256:${'A'.repeat(43)}` }));
    const run = await joinWith('pi-frank', other);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/the reply does not come from the controller this token was made by: its signing key \(SHA256:.*\) is not the one the token names .*nothing was written/);
    expect(JSON.parse(readFileSync(join(h.dir, 'devices/pi-frank/agent.json'), 'utf8'))).not.toHaveProperty('controller');
    expect(existsSync(join(h.dir, 'devices/pi-frank/root/etc/onionfleet/keys'))).toBe(false);
    // The controller did record it: the admin rejects it.
    expect((await onionfleet('device', 'reject', 'pi-frank', '--state', h.state)).code).toBe(0);
    expect((await deviceList()).map((d) => d.device)).not.toContain('pi-frank');
  }, 60_000);

  it('refuses a damaged token in one line without echoing it, and unknown pending devices', async () => {
    const { line } = await createToken('gina');
    const damaged = join(h.dir, 'token-damaged');
    writeFileSync(damaged, line.slice(0, 80));
    const run = await joinWith('pi-gina', damaged);
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe('join token: damaged: its body is not base64url-encoded JSON');
    expect(run.stderr).not.toContain(line.slice(19, 60));
    const approve = await onionfleet('device', 'approve', 'pi-nobody', '--state', h.state);
    expect(approve.code).toBe(2);
    expect(approve.stderr).toMatch(/^device id: no device "pi-nobody" is waiting for approval/);
  }, 60_000);

  it('checks the flags of token create', async () => {
    const bad = async (...args: string[]) => onionfleet('token', 'create', '--state', h.state, ...args);
    expect((await bad('--operator', 'bob', '--expires', '31d')).stderr).toMatch(/^--expires: must be at most 30d/);
    expect((await bad('--operator', 'bob', '--expires', 'soon')).code).toBe(2);
    expect((await bad('--operator', 'Bob!')).code).toBe(2);
    expect((await bad('--operator', 'bob', '--nats-url', 'http://x')).code).toBe(2);
  });
});

describe('the one-time account of a token', () => {
  let nc: NatsConnection;
  let token: JoinToken;
  const violations: PermissionViolationError[] = [];

  beforeAll(async () => {
    ({ token } = await createToken('hank'));
    nc = await connectNats({ servers: h.natsUrl(), nkeySeed: token.natsSeed, name: 'join-probe', timeoutMs: 5_000, reconnect: false });
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error' && s.error instanceof PermissionViolationError) violations.push(s.error);
    })();
  });
  afterAll(async () => { await nc.close(); });

  it('may publish its join request and hears the answer on its own down-tree', async () => {
    const party = { kind: 'join', id: token.id } as const;
    const answer = new Promise<Uint8Array>((resolve) => { nc.subscribe(downTree(party), { max: 1, callback: (_err, msg) => { resolve(msg.data); } }); });
    await nc.flush();
    nc.publish(upSubject(party, 'request'), JSON.stringify({ nonsense: true }));
    const reply = JoinReply.parse(JSON.parse(new TextDecoder().decode(await answer)));
    expect(reply).toMatchObject({ ok: false, reason: 'invalid-request' });
  });

  it('may not use JetStream: a KV get is refused', async () => {
    const desired = await openDesired(jetStreamFor(nc, 3_000), { create: false });
    const err = await getEntry(desired, 'pi-bob').then(() => null, (e: unknown) => e);
    let e: unknown = err;
    while (e instanceof Error && !(e instanceof PermissionViolationError)) e = e.cause;
    expect(e).toBeInstanceOf(PermissionViolationError);
  });

  it('may not subscribe anywhere else, nor publish to another subject', async () => {
    for (const subject of ['onionfleet.join.>', '_INBOX.>', '$KV.status.pi-bob']) {
      const sub = nc.subscribe(subject);
      expect(await sub.closed).toBeInstanceOf(PermissionViolationError);
    }
    nc.publish('$KV.status.pi-bob', 'forged');
    nc.publish(upSubject({ kind: 'join', id: 'aaaaaaaaaa' }, 'request'), '{}');
    await until('both publish violations', () => {
      const subjects = violations.filter((v) => v.operation === 'publish').map((v) => v.subject);
      return subjects.includes('$KV.status.pi-bob') && subjects.includes('onionfleet.join.aaaaaaaaaa.up.request') ? true : null;
    }, 10_000);
  });
});

describe('logs', () => {
  it('never show a token or its secrets', async () => {
    const logs = (await h.allLogs()) + joinOutput.join('\n');
    expect(logs).toMatch(/join [a-z2-7]{10}: device pi-bob \(operator bob\) is pending approval/);
    expect(tokens.length).toBeGreaterThan(5);
    for (const t of tokens) {
      for (const secret of [encodeJoinToken(t), t.natsSeed, t.secret, t.onionClientKey]) expect(logs).not.toContain(secret);
    }
  });
});
