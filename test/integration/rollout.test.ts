/**
 * Safe rollouts with the real nats-server and six real agents of three operators, a high and a
 * standard group: a change that fails (a binary pin that does not match what the device has, so the
 * agent's pinned download fails) reaches only the canary, which goes back by itself while the
 * rollout halts naming device and reason; a good change rolls through every wave; the controller
 * killed mid-rollout resumes; `rollout abort` gives the changed devices their previous state back.
 * A watcher sampling every status throughout sees no group below its tier's minimum.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open } from '#shared/crypto/envelope.ts';
import { connectNats } from '#shared/nats/connect.ts';
import { openStatus } from '#shared/nats/kv.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { DeviceStatus } from '#shared/schema/status.ts';
import type { RolloutEvent } from '../../controller/rollout/events.ts';
import type { RolloutState } from '../../controller/rollout/state.ts';
import { BIN, onionfleet, runBin } from '../support/cli.ts';
import { FleetHarness } from '../support/fleet-harness.ts';
import { alive, until } from '../support/processes.ts';

const DEVICES = [['pi-1', 'alice'], ['pi-2', 'alice'], ['pi-3', 'bob'], ['pi-4', 'bob'], ['pi-5', 'carol'], ['pi-6', 'carol']] as const;
const DOUBLE = realpathSync(new URL('../doubles/smp-server', import.meta.url).pathname);
const DOUBLE_SHA = createHash('sha256').update(readFileSync(DOUBLE)).digest('hex');
const XFTP_DOUBLE_LIB = realpathSync(new URL('../doubles/simplex-double.mjs', import.meta.url).pathname);
const FAULT_MARKER = 'storage_quota: 13gb';
/**
 * How long an agent gives a new revision to turn healthy before it goes back by itself. Only the
 * fault test restarts a server on probation; the good changes are pin changes the agents only record.
 */
const REVERT_AFTER_S = 40;

/** The fleet: a high group and a standard group over six Pis; `binaries` and the quota are what the tests change. */
function fleetFile(binaries: string, quota = '10gb'): string {
  return [
    'version: 1', 'fleet: rollout-fleet', 'operators:', '  - id: alice', '  - id: bob', '  - id: carol', 'devices:',
    ...DEVICES.map(([id, op]) => `  - { id: ${id}, operator: ${op}, location: ${id}-site, jurisdiction: DE }`),
    'groups:',
    `  - { id: press, tier: high, smp: 4, xftp: 1, xftpQuota: ${quota}, members: [m] }`,
    '  - { id: fam, tier: standard, smp: 3, xftp: 0, members: [m] }',
    'members:', '  - { id: m, passphrase: true }',
    ...(binaries === '' ? [] : ['binaries:', `  smp-server: ${binaries}`]),
    '',
  ].join('\n');
}
const pin = (sha256: string, version = '6.4.5') => `{ version: ${version}, url: "https://downloads.example.net/smp-server", sha256: "${sha256}" }`;

let h: FleetHarness;
const key = (name: string) => readFileSync(join(h.state, 'keys', name), 'utf8').trim();
const record = (id: string) => JSON.parse(readFileSync(join(h.dir, 'devices', id, 'record.json'), 'utf8')) as { signingKey: string };
const runningDesired = (id: string) => DesiredState.parse(JSON.parse(readFileSync(join(h.devices.get(id)?.root ?? '', 'var/lib/onionfleet/desired.json'), 'utf8')));
const rollout = () => JSON.parse(readFileSync(join(h.state, 'rollout.json'), 'utf8')) as RolloutState;
const cli = (...args: string[]) => runBin(BIN.onionfleet, [...args, '--state', h.state]);
const events = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('{"event"')).map((l) => JSON.parse(l) as RolloutEvent);

/**
 * Every status every device sends, as the controller reads it: after each, the healthy instances of
 * each group across the fleet (a sample).
 */
class Watcher {
  readonly latest = new Map<string, DeviceStatus>();
  readonly samples: Map<string, number>[] = [];
  private stopped = false;
  private done: Promise<void> = Promise.resolve();

  async start(): Promise<void> {
    const nc = await connectNats({ servers: h.natsUrl(), nkeySeed: key('nats.nk'), name: 'test-watcher', timeoutMs: 10_000 });
    const watch = await (await openStatus(nc, { create: false })).watch();
    this.done = (async () => {
      for await (const entry of watch) {
        if (this.stopped) break;
        if (entry.operation !== 'PUT') continue;
        const { body } = await open(entry.value, { identity: key('age.key'), signer: record(entry.key).signingKey, kind: 'status', device: entry.key, schema: DeviceStatus });
        this.latest.set(entry.key, body);
        if (this.latest.size < DEVICES.length) continue;
        const healthy = new Map<string, number>();
        for (const s of this.latest.values()) for (const i of s.instances) if (i.healthy) healthy.set(i.group, (healthy.get(i.group) ?? 0) + 1);
        this.samples.push(healthy);
      }
      await nc.close();
    })();
    this.stopWatch = () => { watch.stop(); };
  }

  private stopWatch: () => void = () => undefined;

  /** Starts a fresh window of samples. */
  reset(): void {
    this.samples.length = 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopWatch();
    await this.done;
  }

  /** The fewest healthy instances seen per group since the last reset (throws without samples). */
  lowest(group: string): number {
    if (this.samples.length === 0) throw new Error('the watcher saw no status');
    return Math.min(...this.samples.map((s) => s.get(group) ?? 0));
  }
}
let watcher: Watcher;

beforeAll(async () => {
  h = await FleetHarness.create();
  await h.startServe();
  for (const [id] of DEVICES) {
    // The agents run the servers from where a pinned download would put them (no override), so a
    // pin that does not match makes the agent try a download — through a SOCKS port nobody listens on.
    const d = await h.enroll(id, { binaries: {}, socksProxy: 'socks5h://127.0.0.1:1', revertAfterSeconds: REVERT_AFTER_S });
    mkdirSync(join(d.root, 'usr/local/bin'), { recursive: true });
    symlinkSync(DOUBLE, join(d.root, 'usr/local/bin/smp-server'));
    // The XFTP server's double fails every hello once its ini says `storage_quota: 13gb` (fault injection).
    // (A node script, not a shell wrapper that execs: the supervisor knows its processes by their command line.)
    writeFileSync(join(d.root, 'usr/local/bin/xftp-server'), `#!/usr/bin/env node\nprocess.env.SIMPLEX_DOUBLE_FAULT = ${JSON.stringify(`fail-hello:${FAULT_MARKER}`)};\nimport(${JSON.stringify(XFTP_DOUBLE_LIB)}).then((m) => m.run('xftp'));\n`, { mode: 0o755 });
    h.startAgent(id);
  }
  const first = await h.apply(h.writeFleet(fleetFile('')), '--wait', '--timeout', '400');
  if (first.code !== 0) throw new Error(`first apply failed: ${first.stderr}${first.stdout}`);
  watcher = new Watcher();
  await watcher.start();
  await until('every device to report', () => (watcher.latest.size === DEVICES.length ? true : null), 30_000);
}, 480_000);

afterAll(async () => {
  try {
    await (watcher as Watcher | undefined)?.stop();
  } finally {
    await (h as FleetHarness | undefined)?.stop();
  }
}, 60_000);

describe('rollout', () => {
  it('a failing change reaches only the canary, which goes back by itself; the rollout halts naming device and reason', async () => {
    const before = new Map<string, number>(DEVICES.map(([id]) => [id, runningDesired(id).revision]));
    watcher.reset();
    const run = await h.apply(h.writeFleet(fleetFile(pin('0'.repeat(64)))), '--wait', '--timeout', '120', '--soak', '1', '--json');
    expect(run.code, run.stderr).toBe(1);
    const planned = events(run.stdout).find((e) => e.event === 'planned');
    expect(planned?.event === 'planned' && planned.waves.length).toBeGreaterThan(2);
    const canary = planned?.event === 'planned' ? planned.waves[0] : undefined;
    expect(canary?.canary).toBe(true);
    expect(canary?.devices).toHaveLength(1);
    const target = canary?.devices[0] ?? '';
    const halted = events(run.stdout).find((e) => e.event === 'halted');
    expect(halted).toMatchObject({ event: 'halted', failure: { wave: 1, device: target } });
    expect(halted?.event === 'halted' && halted.failure.reason).toMatch(/^went back to revision \d+ by itself: failed 2 times: .*smp-server/);
    expect(events(run.stdout).filter((e) => e.event === 'wave-published')).toHaveLength(1);

    // Only the canary was sent the change, and it runs its previous revision again.
    const state = rollout();
    expect(state.status).toBe('halted');
    expect(state.waves.slice(1).every((w) => w.state === 'pending')).toBe(true);
    for (const [id] of DEVICES) expect(runningDesired(id).revision, id).toBe(before.get(id));
    expect(runningDesired(target).binaries['smp-server'].pin).toBeUndefined();
    const status = watcher.latest.get(target);
    expect(status?.reverted).toMatchObject({ to: before.get(target) });
    expect(status?.appliedRevision).toBe(before.get(target));

    // `rollout status` and `status` show it.
    const shown = await cli('rollout', 'status');
    expect(shown.stdout).toMatch(new RegExp(`halted, wave 1/\\d+ — ${target}: went back to revision`));
    const fleetStatus = await cli('status', '--json');
    expect((JSON.parse(fleetStatus.stdout) as { rollout: { status: string } }).rollout.status).toBe('halted');

    // Abort: the canary gets its previous state back as a new revision; nobody else was touched.
    const aborted = await cli('rollout', 'abort', '--wait', '--timeout', '90', '--json');
    expect(aborted.code, aborted.stderr).toBe(0);
    const result = JSON.parse(aborted.stdout) as { reverted: Record<string, number>; untouched: string[]; converged: boolean };
    expect(Object.keys(result.reverted)).toEqual([target]);
    expect(result.untouched.sort()).toEqual(DEVICES.map(([id]) => id).filter((id) => id !== target));
    expect(result.converged).toBe(true);
    expect(runningDesired(target).revision).toBe(result.reverted[target]);
    expect(runningDesired(target).binaries['smp-server'].pin).toBeUndefined();
    expect(rollout().status).toBe('aborted');
    expect(watcher.lowest('press')).toBeGreaterThanOrEqual(state.groups.press?.minimumHealthy ?? Infinity);
    expect(watcher.lowest('fam')).toBeGreaterThanOrEqual(state.groups.fam?.minimumHealthy ?? Infinity);
  }, 240_000);

  it('a good change rolls through every wave, one device per group at a time, to convergence', async () => {
    watcher.reset();
    const run = await h.apply(h.writeFleet(fleetFile(pin(DOUBLE_SHA))), '--wait', '--timeout', '240', '--soak', '1');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/^converged: 6 devices on their new revisions in \d+ waves, every instance healthy$/m);
    expect(run.stderr).toMatch(/^wave 1\/\d+: published pi-\d@\d+$/m);
    expect(run.stderr).toMatch(/^wave 2\/\d+: promoted$/m);
    const state = rollout();
    expect(state.status).toBe('completed');
    expect(state.waves.every((w) => w.state === 'promoted')).toBe(true);
    for (const [id] of DEVICES) expect(runningDesired(id).binaries['smp-server'].pin?.sha256, id).toBe(DOUBLE_SHA);
    for (const g of ['press', 'fam']) expect(watcher.lowest(g), g).toBeGreaterThanOrEqual(state.groups[g]?.minimumHealthy ?? Infinity);
    expect(state.groups.press).toMatchObject({ serving: 5, maxUnavailable: 1 });
  }, 300_000);

  it('the controller killed mid-rollout resumes where it was', async () => {
    const fleet = h.writeFleet(fleetFile(pin(DOUBLE_SHA, '6.4.6')));
    const child = spawn(process.execPath, [BIN.onionfleet, 'apply', '-f', fleet, '--state', h.state, '--wait', '--soak', '1', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    await until('wave 2 to be published', () => (events(out).some((e) => e.event === 'wave-published' && e.wave === 2) ? true : null), 120_000);
    child.kill('SIGKILL');
    await until('the apply to die', () => (child.exitCode !== null || child.signalCode !== null ? true : null), 10_000);
    const killed = rollout();
    expect(killed.status).toBe('running');
    expect(killed.driver !== null && alive(killed.driver)).toBe(false);
    expect(killed.waves[0]?.state).toBe('promoted');
    expect(killed.waves.slice(2).every((w) => w.state === 'pending')).toBe(true);
    expect((await cli('rollout', 'status')).stdout).toMatch(/nobody drives it/);

    const resumed = await cli('rollout', 'resume', '--timeout', '240');
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
    const state = rollout();
    expect(state.id).toBe(killed.id);
    expect(state.status).toBe('completed');
    expect(resumed.stderr).not.toMatch(/^wave 1\/\d+: published/m); // promoted before the kill: not published again
    for (const [id] of DEVICES) expect(runningDesired(id).binaries['smp-server'].pin?.version, id).toBe('6.4.6');
  }, 300_000);

  it('pause stops the rollout before its next wave; resume finishes it', async () => {
    const fleet = h.writeFleet(fleetFile(pin(DOUBLE_SHA, '6.4.6-p')));
    const child = spawn(process.execPath, [BIN.onionfleet, 'apply', '-f', fleet, '--state', h.state, '--wait', '--soak', '3', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => { child.on('exit', resolve); });
    await until('wave 1 to be published', () => (events(out).some((e) => e.event === 'wave-published') ? true : null), 120_000);
    const paused = await onionfleet('rollout', 'pause', '--state', h.state);
    expect(paused.code, paused.stderr).toBe(0);
    expect(await exited).toBe(0);
    const stop = events(out).find((e) => e.event === 'paused');
    const published = events(out).filter((e) => e.event === 'wave-published').length;
    expect(stop).toMatchObject({ event: 'paused', wave: published + 1 });
    const state = rollout();
    expect(state.status).toBe('paused');
    expect(state.waves.slice(published).every((w) => w.state === 'pending')).toBe(true);
    expect((await cli('rollout', 'status')).stdout).toMatch(new RegExp(`paused, wave ${published + 1}/${state.waves.length}`));

    const resumed = await cli('rollout', 'resume', '--timeout', '240');
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
    expect(rollout().status).toBe('completed');
    for (const [id] of DEVICES) expect(runningDesired(id).binaries['smp-server'].pin?.version, id).toBe('6.4.6-p');
  }, 300_000);

  it('abort gives the devices of a handed-off first wave their previous state back', async () => {
    const before = new Map<string, DesiredState>(DEVICES.map(([id]) => [id, runningDesired(id)]));
    const run = await h.apply(h.writeFleet(fleetFile(pin(DOUBLE_SHA, '6.4.7'))), '--json');
    expect(run.code, run.stderr).toBe(0);
    const published = events(run.stdout).filter((e) => e.event === 'wave-published');
    expect(published).toHaveLength(1);
    const changed = published[0]?.event === 'wave-published' ? published[0].devices : [];
    await until('the first wave to run the new pin', () => (changed.every((id) => runningDesired(id).binaries['smp-server'].pin?.version === '6.4.7') ? true : null), 60_000);
    const aborted = await cli('rollout', 'abort', '--wait', '--json');
    expect(aborted.code, aborted.stderr).toBe(0);
    expect(Object.keys((JSON.parse(aborted.stdout) as { reverted: Record<string, number> }).reverted).sort()).toEqual([...changed].sort());
    for (const [id] of DEVICES) expect(runningDesired(id).binaries['smp-server'].pin?.version, id).toBe(before.get(id)?.binaries['smp-server'].pin?.version);
    for (const id of changed) expect(runningDesired(id).revision).toBeGreaterThan(before.get(id)?.revision ?? Infinity);
  }, 180_000);

  it('an instance that starts but never answers: its agent goes back after its deadline, and the rollout names the instance', async () => {
    const holder = DEVICES.map(([id]) => id).find((id) => runningDesired(id).instances.some((i) => i.kind === 'xftp')) ?? '';
    const before = runningDesired(holder);
    watcher.reset();
    // Only the quota of the XFTP instance changes (the pin is the one the fleet runs since the pause test).
    const run = await h.apply(h.writeFleet(fleetFile(pin(DOUBLE_SHA, '6.4.6-p'), '13gb')), '--wait', '--timeout', String(REVERT_AFTER_S + 120), '--soak', '1');
    expect(run.code, run.stderr + run.stdout).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`^rollout halted at wave 1/1: ${holder} \\(instance press-xftp-01\\): went back to revision ${before.revision} by itself: not healthy within ${REVERT_AFTER_S} s: instance press-xftp-01 is not healthy`, 'm'));
    // While the fault lasted the gate showed what it waited on; the device runs its previous quota again, healthy.
    expect(run.stderr).toMatch(new RegExp(`converged 0/1 devices`));
    expect(runningDesired(holder).revision).toBe(before.revision);
    expect(runningDesired(holder).instances.find((i) => i.kind === 'xftp')?.quota).toBe('10gb');
    await until('the XFTP instance to be healthy again', () => (watcher.latest.get(holder)?.instances.every((i) => i.healthy) === true ? true : null), 60_000);
    const state = rollout();
    expect(state.groups.press?.minimumHealthy).toBe(4);
    expect(watcher.lowest('press')).toBe(4); // the XFTP server was down: one instance, never more
  }, 300_000);
});
