/**
 * renderNatsConfig: each agent gets exactly nats.md's permission lists (written out here by hand, not
 * derived from the code under test), each live join token a user that may only publish its request,
 * the output is deterministic, bad input is refused with every problem named, and the real
 * nats-server accepts the file (`nats-server -t`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderNatsConfig, type NatsConfigInput } from '../../../controller/nats-server/config.ts';
import { InvalidInputError } from '../../../shared/errors.ts';
import { agentPermissions, inboxPrefix, joinerPermissions, joinInboxPrefix, joinSubject } from '../../../shared/nats/names.ts';

const controller = createUser().getPublicKey();
const keys = { 'pi-1': createUser().getPublicKey(), 'pi-2': createUser().getPublicKey(), zz: createUser().getPublicKey() };
const input: NatsConfigInput = {
  port: 4333,
  storeDir: '/var/lib/onionfleet/nats',
  controllerUser: controller,
  agents: [{ device: 'zz', natsUser: keys.zz }, { device: 'pi-2', natsUser: keys['pi-2'] }, { device: 'pi-1', natsUser: keys['pi-1'] }],
};

/** nats.md, "Per-agent least privilege", for agent `<id>`. */
function expectedFor(id: string) {
  return {
    publish: [
      `$JS.API.CONSUMER.CREATE.KV_desired.*.$KV.desired.${id}`,
      `$JS.API.DIRECT.GET.KV_desired.$KV.desired.${id}`,
      `$KV.status.${id}`,
      '$JS.FC.KV_desired.>',
    ],
    subscribe: [`_INBOX_${id}.>`],
    allowResponses: true,
  };
}

interface RenderedUser { nkey: string; publish: string[]; subscribe: string[]; allowResponses: boolean }

/** The user blocks of a rendered config, in file order (the renderer's layout; lists are JSON-compatible). */
function users(text: string): RenderedUser[] {
  const block = /nkey: "(U[A-Z2-7]+)"\n\s+permissions: \{\n\s+publish: \{ allow: (\[.*\]) \}\n\s+subscribe: \{ allow: (\[.*\]) \}\n(\s+allow_responses: true\n)?\s+\}/g;
  return [...text.matchAll(block)].map((m) => ({
    nkey: m[1]!, publish: JSON.parse(m[2]!) as string[], subscribe: JSON.parse(m[3]!) as string[], allowResponses: m[4] !== undefined,
  }));
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

  it('gives each agent exactly the permission lists of nats.md, and the controller the whole account', () => {
    const rendered = users(text);
    expect(rendered.map((u) => u.nkey)).toEqual([controller, keys['pi-1'], keys['pi-2'], keys.zz]);
    expect(rendered[0]).toEqual({ nkey: controller, publish: ['>'], subscribe: ['>'], allowResponses: false });
    for (const [i, id] of ['pi-1', 'pi-2', 'zz'].entries()) {
      const { publish, subscribe, allowResponses } = rendered[i + 1]!;
      expect({ publish, subscribe, allowResponses }).toEqual(expectedFor(id));
    }
    expect(text.match(/nkey:/g)).toHaveLength(4);
  });

  it('sets the server options nats.md asks for, in a config file only (no -sd)', () => {
    expect(text).toContain('listen: "127.0.0.1:4333"');
    expect(text).toMatch(/jetstream \{\n\s+store_dir: "\/var\/lib\/onionfleet\/nats"\n\}/);
    expect(text).toMatch(/authorization \{\n(\s+#.*\n)?\s+timeout: 10\n/);
    for (const line of ['ping_interval: "60s"', 'ping_max: 3', 'write_deadline: "30s"', 'max_payload: 1048576']) expect(text).toContain(line);
  });

  it('is deterministic: the order of the agents does not matter', () => {
    const again = renderNatsConfig({ ...input, agents: [...input.agents].reverse() });
    expect(again).toBe(text);
    expect(renderNatsConfig(input)).toBe(text);
  });

  it('renders a fleet without agents', () => {
    expect(users(renderNatsConfig({ ...input, agents: [] })).map((u) => u.nkey)).toEqual([controller]);
  });

  it('refuses bad input and names every problem', () => {
    const problems = problemsOf(() => renderNatsConfig({
      port: 0,
      storeDir: 'relative/"dir',
      controllerUser: 'SUAM-not-a-user-key',
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
      'agents.0.device: not an id: "a.b"',
      'agents.2.device: device pi-2 is listed twice',
      'agents.2.natsUser: this nkey is already used by the controller or another device',
      'agents.3.device: not an id: ">"',
      'agents.3.natsUser: expected a NATS user nkey (U…, 56 characters)',
    ]);
    expect(problemsOf(() => renderNatsConfig({ ...input, agents: [{ device: 'x', natsUser: controller }] })))
      .toEqual(['agents.0.natsUser: this nkey is already used by the controller or another device']);
    expect(problemsOf(() => renderNatsConfig({ ...input, storeDir: '/tmp/a\nb' }))).toHaveLength(1);
  });
});

describe('names', () => {
  it('gives each agent its own inbox prefix and refuses ids that would widen a subject', () => {
    expect(inboxPrefix('pi-1')).toBe('_INBOX_pi-1');
    expect(agentPermissions('pi-1')).toEqual(expectedFor('pi-1'));
    for (const bad of ['a.b', '*', '>', '', 'A', '-x', 'a b']) {
      expect(() => agentPermissions(bad)).toThrow(InvalidInputError);
      expect(() => inboxPrefix(bad)).toThrow(InvalidInputError);
    }
  });
});

describe('nats-server accepts the rendered config', () => {
  let dir: string;
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'onionfleet-natsconf-')); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('passes `nats-server -t` (and an unquoted `$` subject would not: the quoting matters)', async () => {
    const probe = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
    if (probe.error !== undefined) throw new Error(`this test needs nats-server on PATH (${probe.error.message}); run: bash deploy/dev-deps.sh`);
    const file = join(dir, 'nats.conf');
    await writeFile(file, renderNatsConfig({ ...input, storeDir: join(dir, 'store') }));
    const ok = spawnSync('nats-server', ['-t', '-c', file], { encoding: 'utf8' });
    expect(ok.stderr).toContain('is valid');
    expect(ok.status).toBe(0);

    const unquoted = join(dir, 'unquoted.conf');
    await writeFile(unquoted, renderNatsConfig({ ...input, storeDir: join(dir, 'store') }).replace('"$KV.status.pi-1"', '$KV.status.pi-1'));
    const bad = spawnSync('nats-server', ['-t', '-c', unquoted], { encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('variable reference');
  });
});

describe('renderNatsConfig with join tokens', () => {
  const joinKeys = { b: createUser().getPublicKey(), a: createUser().getPublicKey() };
  const withJoiners: NatsConfigInput = { ...input, joiners: [{ token: 'bbbbbbbbbb', natsUser: joinKeys.b }, { token: 'aaaaaaaaaa', natsUser: joinKeys.a }] };
  const text = renderNatsConfig(withJoiners);

  it('gives each live token a user that may only publish its join request and read its own inbox', () => {
    const rendered = users(text);
    expect(rendered.map((u) => u.nkey)).toEqual([controller, keys['pi-1'], keys['pi-2'], keys.zz, joinKeys.a, joinKeys.b]);
    expect(rendered.slice(4)).toEqual([
      { nkey: joinKeys.a, publish: ['onionfleet.join.aaaaaaaaaa'], subscribe: ['_INBOX_join_aaaaaaaaaa.>'], allowResponses: false },
      { nkey: joinKeys.b, publish: ['onionfleet.join.bbbbbbbbbb'], subscribe: ['_INBOX_join_bbbbbbbbbb.>'], allowResponses: false },
    ]);
    // The agents' and the controller's permissions do not change.
    expect(rendered.slice(0, 4)).toEqual(users(renderNatsConfig(input)));
    expect(joinerPermissions('aaaaaaaaaa')).toEqual({ publish: ['onionfleet.join.aaaaaaaaaa'], subscribe: ['_INBOX_join_aaaaaaaaaa.>'], allowResponses: false });
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

  it('names refuse token ids that would widen a subject', () => {
    for (const bad of ['a.b', '*', '>', '', 'AAAAAAAAAA', 'aaaaaaaaa_', 'aaaaaaaaa']) {
      expect(() => joinSubject(bad)).toThrow(InvalidInputError);
      expect(() => joinInboxPrefix(bad)).toThrow(InvalidInputError);
    }
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
