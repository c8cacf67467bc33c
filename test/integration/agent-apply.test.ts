/**
 * The agent end to end on one device, as separate processes: `onionfleet-agent apply` under a temp
 * root with the built-in supervisor and the SimpleX server doubles; then status with the TLS
 * identity probe, idempotence, retirement to the archive, owner's limits, refusal of old revisions.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PATHS } from '../../agent/render/paths.ts';
import type { DesiredState } from '#shared/schema/desired-state.ts';
import { desiredState } from '../builders/desired.ts';
import { BIN, runBin } from '../support/cli.ts';
import { freePort, stopSupervised } from '../support/processes.ts';

const DOUBLES = new URL('../doubles/', import.meta.url).pathname;
const roots: string[] = [];

afterEach(async () => {
  for (const root of roots.splice(0)) await stopSupervised(root);
}, 30_000);

/** A temp root, an agent config using the doubles, and a desired state on free ports. */
async function device(input: Parameters<typeof desiredState>[0] = {}, limits: object = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'onionfleet-agent-'));
  const root = join(dir, 'root');
  roots.push(root);
  const config = join(dir, 'agent.json');
  writeFileSync(config, JSON.stringify({ root, services: 'supervisor', system: 'sandbox', binaries: { 'smp-server': join(DOUBLES, 'smp-server'), 'xftp-server': join(DOUBLES, 'xftp-server') }, limits }));
  const base = desiredState(input);
  const ports = await Promise.all(base.instances.map(() => freePort()));
  const desired: DesiredState = {
    ...base,
    instances: base.instances.map((i, k) => ({ ...i, localPort: ports[k] ?? 0 })),
    firewall: { loopbackOnlyPorts: [...ports, ...(base.ssh.overTor ? [22] : [])].sort((a, b) => a - b) },
  };
  const write = (doc: DesiredState) => {
    const path = join(dir, `desired-${doc.revision}.json`);
    writeFileSync(path, JSON.stringify(doc));
    return path;
  };
  return { dir, root, config, desired, write };
}

const apply = (config: string, desiredPath: string, ...extra: string[]) => runBin(BIN.agent, ['apply', '--config', config, '--desired', desiredPath, '--json', ...extra]);
const status = async (config: string) => {
  const run = await runBin(BIN.agent, ['status', '--config', config, '--json']);
  return { code: run.code, body: JSON.parse(run.stdout) as { appliedRevision: number; healthy: number; total: number; refused: unknown; instances: { id: string; healthy: boolean; address: string | null; probe: { identityOk: boolean; helloOk: boolean } | null }[] } };
};

describe('onionfleet-agent apply', () => {
  it('brings a fresh device to its desired state, healthy and probed, and a second apply does nothing', async () => {
    const d = await device({ tier: 'elevated' });
    const first = await apply(d.config, d.write(d.desired));
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const result = JSON.parse(first.stdout) as { converged: boolean; steps: string[] };
    expect(result.converged).toBe(true);
    expect(result.steps).toContainEqual(expect.stringMatching(/^create onion key for newsroom-smp-01$/));
    expect(result.steps).toContainEqual(expect.stringMatching(/^init smp instance newsroom-smp-01$/));
    expect(result.steps).toContainEqual(expect.stringMatching(/^start onionfleet-xftp@newsroom-xftp-01\.service$/));
    expect(result.steps.at(-1)).toBe('record revision 1 as applied');

    const s = await status(d.config);
    expect(s.code).toBe(0);
    expect(s.body).toMatchObject({ appliedRevision: 1, healthy: 3, total: 3 });
    for (const i of s.body.instances) {
      expect(i.probe).toMatchObject({ identityOk: true, helloOk: true });
      expect(i.address).toMatch(/^(smp|xftp):\/\/[A-Za-z0-9_-]{43}=:pw-newsroom-[a-z]+-0\d-S3cret@[a-z2-7]{56}\.onion$/);
    }

    const again = await apply(d.config, d.write(d.desired));
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ converged: true, steps: [] });
  });

  it('makes the directories other accounts enter (tor, the servers) 0755 even under the unit\'s UMask=0077', async () => {
    const d = await device({ tier: 'elevated' });
    const run = spawnSync('sh', ['-c', 'umask 077 && exec "$0" "$@"', process.execPath, BIN.agent, 'apply', '--config', d.config, '--desired', d.write(d.desired), '--json'], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    for (const dir of ['etc/opt/simplex', 'var/opt/simplex', 'etc/opt/simplex-xftp', 'var/opt/simplex-xftp', 'etc/tor', 'etc/tor/torrc.d', 'etc/systemd/system']) {
      expect(statSync(join(d.root, dir)).mode & 0o777, dir).toBe(0o755);
    }
    // The instances' own directories and the onion keys stay private.
    expect(statSync(join(d.root, PATHS.configDir('smp', 'newsroom-smp-01'))).mode & 0o777).toBe(0o700);
    expect(statSync(join(d.root, PATHS.onionDir('newsroom-smp-01'))).mode & 0o777).toBe(0o700);
  });

  it('lists the steps with --dry-run and changes nothing', async () => {
    const d = await device();
    const run = await apply(d.config, d.write(d.desired), '--dry-run');
    expect(run.code).toBe(0);
    const steps = (JSON.parse(run.stdout) as { steps: string[] }).steps;
    expect(steps).toContainEqual(expect.stringMatching(/^write \/etc\/opt\/simplex\/newsroom-smp-01\/smp-server\.ini \(smp-ini, mode 600\)$/));
    expect(steps).toContainEqual('start onionfleet-smp@newsroom-smp-02.service');
    expect(existsSync(d.root)).toBe(false);
  });

  it('stops retired instances and moves their directories and keys to a dated archive', async () => {
    const d = await device();
    expect((await apply(d.config, d.write(d.desired))).code).toBe(0);
    const smaller = { ...d.desired, revision: 2, instances: d.desired.instances.filter((i) => i.id !== 'newsroom-smp-02') };
    const run = await apply(d.config, d.write(smaller));
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { steps: string[] }).steps).toEqual(
      expect.arrayContaining(['stop onionfleet-smp@newsroom-smp-02.service (no longer desired)', expect.stringMatching(/^archive newsroom-smp-02 to \/var\/lib\/onionfleet\/archive\/.*-newsroom-smp-02$/)]),
    );
    expect(existsSync(join(d.root, PATHS.configDir('smp', 'newsroom-smp-02')))).toBe(false);
    const [archived] = readdirSync(join(d.root, PATHS.archive));
    expect(readdirSync(join(d.root, PATHS.archive, archived ?? '')).sort()).toEqual(['config', 'log', 'onion']);
    expect(existsSync(join(d.root, PATHS.archive, archived ?? '', 'onion/hs_ed25519_secret_key'))).toBe(true);
    expect((await status(d.config)).body).toMatchObject({ appliedRevision: 2, healthy: 2, total: 2 });
  });

  it("refuses a desired state beyond the owner's limits, keeps running the last good one, and says why", async () => {
    const d = await device({}, { maxInstances: 3, allowedGroups: ['newsroom'] });
    expect((await apply(d.config, d.write(d.desired))).code).toBe(0);
    const foreign = desiredState({ groups: [{ id: 'newsroom' }, { id: 'other', smp: 1, xftp: 0 }], revision: 2 });
    const run = await apply(d.config, d.write(foreign));
    expect(run.code).toBe(3);
    expect(JSON.parse(run.stdout)).toMatchObject({ refused: ['4 instances exceed the owner\'s limit of 3', 'group other not allowed by the owner (allowed: newsroom)'] });
    const s = await status(d.config);
    expect(s.body).toMatchObject({ appliedRevision: 1, healthy: 3, refused: { revision: 2 } });
  });

  it('refuses a revision older than the one applied', async () => {
    const d = await device();
    expect((await apply(d.config, d.write({ ...d.desired, revision: 5 }))).code).toBe(0);
    const run = await apply(d.config, d.write({ ...d.desired, revision: 4 }));
    expect(run.code).toBe(3);
    expect(JSON.parse(run.stdout)).toMatchObject({ refused: ['revision 4 is older than the applied revision 5'] });
  });
});
