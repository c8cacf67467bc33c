/**
 * renderNatsConfig: the accounts of docs/reference/nats.md "Isolation by accounts" (the expected
 * lists are written out here by hand, not derived from the code under test): CONTROL holds the
 * controller, the gateway and JetStream; each device and each live join token an account of its own
 * with its one user, its own up-tree exported to CONTROL and its own down-tree imported, and limits.
 * The output is deterministic, bad input is refused with every problem named, and the real
 * nats-server accepts the file (`nats-server -t`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderNatsConfig, type NatsConfigInput } from '../../../controller/nats-server/config.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { downTree, parseUpSubject, partyAccount, partyPermissions, upSubject } from '#shared/nats/names.ts';

const controller = createUser().getPublicKey();
const gateway = createUser().getPublicKey();
const keys = { 'pi-1': createUser().getPublicKey(), 'pi-2': createUser().getPublicKey(), zz: createUser().getPublicKey() };
const input: NatsConfigInput = {
  port: 4333,
  storeDir: '/var/lib/onionfleet/nats',
  controllerUser: controller,
  gatewayUser: gateway,
  agents: [{ device: 'zz', natsUser: keys.zz }, { device: 'pi-2', natsUser: keys['pi-2'] }, { device: 'pi-1', natsUser: keys['pi-1'] }],
};

interface RenderedUser { nkey: string; publish: string[]; subscribe: string[] }
interface RenderedAccount { name: string; body: string; users: RenderedUser[]; exports: string[]; imports: string[]; limits: string | null }

/** The user blocks of a piece of rendered config, in file order (the renderer's layout; lists are JSON-compatible). */
function users(text: string): RenderedUser[] {
  const block = /nkey: "(U[A-Z2-7]+)"\n\s+permissions: \{\n\s+publish: \{ allow: (\[.*\]) \}\n\s+subscribe: \{ allow: (\[.*\]) \}\n\s+\}/g;
  return [...text.matchAll(block)].map((m) => ({ nkey: m[1]!, publish: JSON.parse(m[2]!) as string[], subscribe: JSON.parse(m[3]!) as string[] }));
}

/** The accounts of a rendered config: each `name: {` at two spaces of indent up to its closing `  }`. */
function accounts(text: string): RenderedAccount[] {
  const body = text.slice(text.indexOf('accounts {'));
  return [...body.matchAll(/^ {2}"?([A-Za-z0-9-]+)"?: \{\n([\s\S]*?)^ {2}\}$/gm)].map((m) => {
    const inner = m[2]!;
    return {
      name: m[1]!,
      body: inner,
      users: users(inner),
      exports: [...inner.matchAll(/\{ stream: "([^"]+)", accounts: \["([^"]+)"\] \}/g)].map((x) => `${x[1]!} -> ${x[2]!}`),
      imports: [...inner.matchAll(/\{ stream: \{ account: "([^"]+)", subject: "([^"]+)" \} \}/g)].map((x) => `${x[1]!}: ${x[2]!}`),
      limits: /limits: \{ (.*) \}/.exec(inner)?.[1] ?? null,
    };
  });
}

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    if (err instanceof InvalidInputError) return err.problems.map((p) => `${p.path ?? ''}: ${p.message}`);
    throw err;
  }
  throw new Error('expected InvalidInputError');
}

describe('renderNatsConfig', () => {
  const text = renderNatsConfig(input);
  const all = accounts(text);
  const byName = new Map(all.map((a) => [a.name, a]));

  it('puts the controller (whole account), the gateway (up-trees in, down-trees out) and JetStream in CONTROL', () => {
    const control = byName.get('CONTROL')!;
    expect(control.body).toMatch(/^\s+jetstream: enabled$/m);
    expect(control.users).toEqual([
      { nkey: controller, publish: ['>'], subscribe: ['>'] },
      { nkey: gateway, publish: ['onionfleet.device.*.down.>', 'onionfleet.join.*.down.>'], subscribe: ['onionfleet.device.*.up.>', 'onionfleet.join.*.up.>'] },
    ]);
    expect(control.exports).toEqual(['pi-1', 'pi-2', 'zz'].map((id) => `onionfleet.device.${id}.down.> -> device-${id}`));
    expect(control.imports).toEqual(['pi-1', 'pi-2', 'zz'].map((id) => `device-${id}: onionfleet.device.${id}.up.>`));
  });

  it('gives each device an account holding only its agent: its own up-subjects out, its own down-tree in, limits, no JetStream', () => {
    expect(all.map((a) => a.name)).toEqual(['CONTROL', 'device-pi-1', 'device-pi-2', 'device-zz']);
    for (const id of ['pi-1', 'pi-2', 'zz'] as const) {
      const account = byName.get(`device-${id}`)!;
      expect(account.users).toEqual([{ nkey: keys[id], publish: [`onionfleet.device.${id}.up.desired`, `onionfleet.device.${id}.up.status`, `onionfleet.device.${id}.up.backup`, `onionfleet.device.${id}.up.restore`], subscribe: [`onionfleet.device.${id}.down.>`] }]);
      expect(account.exports).toEqual([`onionfleet.device.${id}.up.> -> CONTROL`]);
      expect(account.imports).toEqual([`CONTROL: onionfleet.device.${id}.down.>`]);
      expect(account.limits).toBe('max_connections: 4, max_subscriptions: 4, max_payload: 525312');
      expect(account.body).not.toMatch(/jetstream|allow_responses|_INBOX|\$JS|\$KV/);
    }
    expect(text.match(/nkey:/g)).toHaveLength(5);
    expect(text).not.toMatch(/allow_responses|service:/);
  });

  it('sets the server options docs/reference/nats.md asks for, in a config file only (no -sd)', () => {
    expect(text).toContain('listen: "127.0.0.1:4333"');
    expect(text).toMatch(/jetstream \{\n\s+store_dir: "\/var\/lib\/onionfleet\/nats"\n\s+max_memory_store: \d+\n\s+max_file_store: \d+\n\}/);
    expect(text).toMatch(/authorization \{\n(\s+#.*\n)?\s+timeout: 10\n\}/);
    for (const line of ['ping_interval: "60s"', 'ping_max: 3', 'write_deadline: "30s"', 'max_payload: 1048576']) expect(text).toContain(line);
  });

  it('is deterministic: the order of the agents does not matter', () => {
    const again = renderNatsConfig({ ...input, agents: [...input.agents].reverse() });
    expect(again).toBe(text);
    expect(renderNatsConfig(input)).toBe(text);
  });

  it('renders a fleet without agents, and one without a gateway (serve not running)', () => {
    const empty = accounts(renderNatsConfig({ ...input, agents: [] }));
    expect(empty.map((a) => a.name)).toEqual(['CONTROL']);
    expect(empty[0]!.exports).toEqual([]);
    const withoutGateway: NatsConfigInput = { port: input.port, storeDir: input.storeDir, controllerUser: input.controllerUser, agents: input.agents };
    expect(users(renderNatsConfig(withoutGateway)).map((u) => u.nkey)).toEqual([controller, keys['pi-1'], keys['pi-2'], keys.zz]);
  });

  it('refuses bad input and names every problem', () => {
    const problems = problemsOf(() => renderNatsConfig({
      port: 0,
      storeDir: 'relative/"dir',
      controllerUser: 'SUAM-not-a-user-key',
      gatewayUser: 'UNOPE',
      agents: [
        { device: 'a.b', natsUser: keys['pi-1'] },
        { device: 'pi-2', natsUser: keys['pi-2'] },
        { device: 'pi-2', natsUser: keys['pi-2'] },
        { device: '>', natsUser: 'UNOPE' },
      ],
    }));
    expect(problems).toEqual([
      'port: expected a TCP port 1-65535, got 0',
      'storeDir: expected an absolute path',
      'storeDir: must not contain a quote, a backslash or control characters',
      'controllerUser: expected a NATS user nkey (U…, 56 characters)',
      'gatewayUser: expected a NATS user nkey (U…, 56 characters)',
      'agents.0.device: not an id: "a.b"',
      'agents.2.device: device pi-2 is listed twice',
      'agents.2.natsUser: this nkey is already used by the controller or another device',
      'agents.3.device: not an id: ">"',
      'agents.3.natsUser: expected a NATS user nkey (U…, 56 characters)',
    ]);
    expect(problemsOf(() => renderNatsConfig({ ...input, agents: [{ device: 'x', natsUser: controller }] })))
      .toEqual(['agents.0.natsUser: this nkey is already used by the controller or another device']);
    expect(problemsOf(() => renderNatsConfig({ ...input, agents: [{ device: 'x', natsUser: gateway }] })))
      .toEqual(['agents.0.natsUser: this nkey is already used by the controller or another device']);
    expect(problemsOf(() => renderNatsConfig({ ...input, gatewayUser: controller }))).toEqual(['gatewayUser: this nkey is already used by the controller']);
    expect(problemsOf(() => renderNatsConfig({ ...input, storeDir: '/tmp/a\nb' }))).toHaveLength(1);
  });
});

describe('names', () => {
  it('refuses device and token ids that would widen a subject or an account name', () => {
    for (const bad of ['a.b', '*', '>', '', 'A', '-x', 'a b', 'CONTROL']) {
      expect(() => partyPermissions({ kind: 'device', id: bad })).toThrow(InvalidInputError);
      expect(() => partyAccount({ kind: 'device', id: bad })).toThrow(InvalidInputError);
      expect(() => downTree({ kind: 'device', id: bad })).toThrow(InvalidInputError);
    }
    for (const bad of ['a.b', '*', '>', '', 'AAAAAAAAAA', 'aaaaaaaaa_', 'aaaaaaaaa', 'pi-1']) {
      expect(() => partyPermissions({ kind: 'join', id: bad })).toThrow(InvalidInputError);
      expect(() => upSubject({ kind: 'join', id: bad }, 'request')).toThrow(InvalidInputError);
    }
  });

  it('reads back the party and the op of an up-subject, and nothing else', () => {
    expect(parseUpSubject('onionfleet.device.pi-1.up.status')).toEqual({ party: { kind: 'device', id: 'pi-1' }, op: 'status' });
    expect(parseUpSubject('onionfleet.join.abcdefghij.up.request')).toEqual({ party: { kind: 'join', id: 'abcdefghij' }, op: 'request' });
    for (const other of ['onionfleet.device.pi-1.down.desired', 'onionfleet.device.pi-1.up', 'onionfleet.device.pi-1.up.status.x', 'onionfleet.join.pi-1.up.request', 'onionfleet.other.pi-1.up.status', '$KV.status.pi-1', 'onionfleet.device.PI.up.status']) {
      expect(parseUpSubject(other)).toBeNull();
    }
  });
});

describe('nats-server accepts the rendered config', () => {
  let dir: string;
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'onionfleet-natsconf-')); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('passes `nats-server -t`', async () => {
    const probe = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
    if (probe.error !== undefined) throw new Error(`this test needs nats-server on PATH (${probe.error.message}); run: bash deploy/dev-deps.sh`);
    const file = join(dir, 'nats.conf');
    await writeFile(file, renderNatsConfig({ ...input, storeDir: join(dir, 'store') }));
    const ok = spawnSync('nats-server', ['-t', '-c', file], { encoding: 'utf8' });
    expect(ok.stderr).toContain('is valid');
    expect(ok.status).toBe(0);
  });
});

describe('renderNatsConfig with join tokens', () => {
  const joinKeys = { b: createUser().getPublicKey(), a: createUser().getPublicKey() };
  const withJoiners: NatsConfigInput = { ...input, joiners: [{ token: 'bbbbbbbbbb', natsUser: joinKeys.b }, { token: 'aaaaaaaaaa', natsUser: joinKeys.a }] };
  const text = renderNatsConfig(withJoiners);

  it('gives each live token an account whose one user may only publish its join request and hear its answer', () => {
    const all = accounts(text);
    expect(all.map((a) => a.name)).toEqual(['CONTROL', 'device-pi-1', 'device-pi-2', 'device-zz', 'join-aaaaaaaaaa', 'join-bbbbbbbbbb']);
    for (const [id, key] of [['aaaaaaaaaa', joinKeys.a], ['bbbbbbbbbb', joinKeys.b]] as const) {
      const account = all.find((a) => a.name === `join-${id}`)!;
      expect(account.users).toEqual([{ nkey: key, publish: [`onionfleet.join.${id}.up.request`], subscribe: [`onionfleet.join.${id}.down.>`] }]);
      expect(account.exports).toEqual([`onionfleet.join.${id}.up.> -> CONTROL`]);
      expect(account.imports).toEqual([`CONTROL: onionfleet.join.${id}.down.>`]);
      expect(account.limits).toBe('max_connections: 2, max_subscriptions: 4, max_payload: 16384');
    }
    const control = all[0]!;
    expect(control.imports.slice(3)).toEqual(['join-aaaaaaaaaa: onionfleet.join.aaaaaaaaaa.up.>', 'join-bbbbbbbbbb: onionfleet.join.bbbbbbbbbb.up.>']);
    // The devices' accounts do not change.
    expect(all.slice(1, 4)).toEqual(accounts(renderNatsConfig(input)).slice(1));
  });

  it('is deterministic in the order of the tokens', () => {
    expect(renderNatsConfig({ ...withJoiners, joiners: [...(withJoiners.joiners ?? [])].reverse() })).toBe(text);
    expect(renderNatsConfig({ ...input, joiners: [] })).toBe(renderNatsConfig(input));
  });

  it('refuses bad tokens and keys, and a key shared with a device or another token', () => {
    expect(problemsOf(() => renderNatsConfig({
      ...input,
      joiners: [
        { token: 'a.b*>', natsUser: joinKeys.a },
        { token: 'bbbbbbbbbb', natsUser: keys['pi-1'] },
        { token: 'bbbbbbbbbb', natsUser: joinKeys.a },
        { token: 'cccccccccc', natsUser: 'UNOPE' },
      ],
    }))).toEqual([
      'joiners.0.token: not a token id: "a.b*>"',
      'joiners.1.natsUser: this nkey is already used by the controller, a device or another token',
      'joiners.2.token: token bbbbbbbbbb is listed twice',
      'joiners.2.natsUser: this nkey is already used by the controller, a device or another token',
      'joiners.3.natsUser: expected a NATS user nkey (U…, 56 characters)',
    ]);
  });

  it('passes `nats-server -t`', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'onionfleet-natsconf-join-'));
    try {
      const file = join(dir, 'nats.conf');
      await writeFile(file, renderNatsConfig({ ...withJoiners, storeDir: join(dir, 'store') }));
      const ok = spawnSync('nats-server', ['-t', '-c', file], { encoding: 'utf8' });
      expect(ok.stderr).toContain('is valid');
      expect(ok.status).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
