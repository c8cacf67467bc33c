/**
 * Store logs backed up incrementally (docs/continuity.md, "Store logs: base and deltas"), with the real
 * nats-server, `serve` and agents: queue records written between two deltas survive a drain (the new
 * holder's store log has them), and a tampered delta in the controller's bucket makes `backup verify`
 * refuse the chain (exit 2) and a restore refuse it: `device lost` then restores from the newest good
 * backup (the drained device's final one), without the records only the tampered chain held.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupSlot } from '../../agent/backup/sender.ts';
import { PATHS } from '../../agent/render/paths.ts';
import { openSession } from '../../controller/bus/session.ts';
import { statePaths } from '../../controller/state/paths.ts';
import { BIN, runBin } from '../support/cli.ts';
import { FleetHarness } from '../support/fleet-harness.ts';
import { stopPid, until } from '../support/processes.ts';
import { queueCommands } from '../support/queue-client.ts';

let h: FleetHarness;
let fleet: string;
const devices = [{ id: 'pi-a', operator: 'alice' }, { id: 'pi-b', operator: 'bob' }, { id: 'pi-c', operator: 'carol' }];
const instance = 'press-smp-01';
const root = (id: string) => h.devices.get(id)?.root ?? '';
let view: ReturnType<FleetHarness['instanceView']>;
const holder = (except: readonly string[] = []) => view.holder(except);
const portOn = (device: string) => view.portOn(device);
const cli = (...args: string[]) => runBin(BIN.onionfleet, [...args, '--state', h.state]);
const storeLogOn = (device: string) => readFileSync(join(root(device), PATHS.logDir('smp', instance), 'smp-server-store.log'), 'utf8');

interface Chain { baseTakenAt: string; newestTakenAt: string; deltas: number; newestAgeSeconds: number; parts: number }
interface Row { ok: boolean; key: string; instance: string | null; device: string; storeLog: string | null; chain: Chain | null }

/** The chain of the instance's backup from `device` as `backup list` shows it now (null: none yet). */
async function chainOf(device: string): Promise<Chain | null> {
  const run = await cli('backup', 'list', '--json');
  if (run.code !== 0) throw new Error(`backup list: ${run.stderr}`);
  return (JSON.parse(run.stdout) as { backups: Row[] }).backups.find((r) => r.ok && r.instance === instance && r.device === device)?.chain ?? null;
}

/**
 * Runs `write` (queue commands) and waits for the next part of `device`'s chain: the device sends one
 * only when the log changed, and nothing else writes, so the next part carries what `write` wrote.
 */
async function partAfter(device: string, write: () => Promise<void>): Promise<Chain> {
  const before = await chainOf(device);
  await write();
  return until(`the next store-log part from ${device}`, async () => {
    const chain = await chainOf(device);
    return chain !== null && (before === null || chain.newestTakenAt !== before.newestTakenAt) ? chain : null;
  }, 90_000);
}

beforeAll(async () => {
  ({ h, fleet } = await FleetHarness.applied(devices, [{ id: 'press', smp: 1, xftp: 0, continuity: '{ backupInterval: 10s }' }]));
  view = h.instanceView(devices, instance);
}, 240_000);

afterAll(async () => {
  await h.stop();
}, 60_000);

let from = '';
let to = '';

describe('an incremental store log', () => {
  it('carries the queue records written between two deltas to the device an instance moves to', async () => {
    from = holder();
    const queues = (device: string, lines: string[]) => queueCommands({ host: '127.0.0.1', port: portOn(device) }, lines);
    // A base worth adding to: forty queues.
    const seeds = Array.from({ length: 40 }, (_, n) => `seed${n}`);
    const based = await partAfter(from, async () => { expect(await queues(from, seeds.map((s) => `DOUBLE NEW ${s}`))).toEqual(seeds.map(() => 'OK')); });
    const first = await partAfter(from, async () => { expect(await queues(from, ['DOUBLE NEW qbetween1'])).toEqual(['OK']); });
    // A delta on the same base, not a new base.
    expect(first.baseTakenAt).toBe(based.baseTakenAt);
    expect(first.deltas).toBe(based.deltas + 1);
    const second = await partAfter(from, async () => { expect(await queues(from, ['DOUBLE NEW qbetween2'])).toEqual(['OK']); });
    expect(second.baseTakenAt).toBe(based.baseTakenAt);
    expect(second.deltas).toBe(first.deltas + 1);

    const drained = await cli('device', 'drain', from, '-f', fleet, '--timeout', '150');
    expect(drained.code, drained.stderr + drained.stdout).toBe(0);
    expect(drained.stderr).not.toMatch(/no final backup/);
    to = holder([from]);
    expect(to).not.toBe('');
    expect(await queues(to, ['DOUBLE GET seed0', 'DOUBLE GET seed39', 'DOUBLE GET qbetween1', 'DOUBLE GET qbetween2'])).toEqual(['YES', 'YES', 'YES', 'YES']);
    expect(storeLogOn(to)).toMatch(/rid=qbetween1 [\s\S]*rid=qbetween2 /);
  }, 420_000);

  it('refuses a chain with a tampered delta: verify exits 2, and a restore does not use it', async () => {
    expect(to).not.toBe('');
    // The new holder's chain starts with a base (a restore writes the log); the record goes as a delta.
    await until(`a chain from ${to}`, () => chainOf(to), 90_000);
    const chain = await partAfter(to, async () => { expect(await queueCommands({ host: '127.0.0.1', port: portOn(to) }, ['DOUBLE NEW qtampered'])).toEqual(['OK']); });
    expect(chain.deltas).toBeGreaterThan(0);
    // The holder dies (agent and servers), so nothing it sends can replace the chain.
    await h.stopAgent(to, 'SIGKILL');
    const pids = readdirSync(join(root(to), 'run/onionfleet')).filter((f) => f.endsWith('.pid')).map((f) => (JSON.parse(readFileSync(join(root(to), 'run/onionfleet', f), 'utf8')) as { pid: number }).pid);
    for (const pid of pids) await stopPid(pid, 'SIGKILL');

    // One bit of the newest delta flipped in the controller's bucket.
    const part = `d${String(chain.deltas).padStart(3, '0')}`;
    const key = `${to}.${backupSlot(to, instance)}.${part}`;
    const session = await openSession(statePaths(h.state), null);
    try {
      const entry = await session.storeLogs.get(key);
      expect(entry?.operation).toBe('PUT');
      const bytes = Uint8Array.from(entry?.value ?? []);
      bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0x01;
      await session.storeLogs.put(key, bytes);
    } finally {
      await session.close();
    }

    const verify = await cli('backup', 'verify', '--json');
    expect(verify.code).toBe(2);
    // The report, then the error (exit 2) as JSON of its own.
    const refused = (JSON.parse(verify.stdout.slice(0, verify.stdout.indexOf('\n}\n') + 2)) as { refused: { key: string; problem: string }[] }).refused;
    expect(refused.find((r) => r.key === `${to}.${backupSlot(to, instance)}`)?.problem).toMatch(new RegExp(`^store log chain refused: part ${part} refused: `));
    expect(refused.some((r) => r.key === key)).toBe(true);

    const lost = await cli('device', 'lost', to, '-f', fleet, '--wait', '--timeout', '120', '--json');
    expect(lost.code, lost.stderr + lost.stdout).toBe(0);
    const now = holder([to, from]);
    expect(now).not.toBe('');
    // Restored from the drained device's final backup (the newest good one): the record only the
    // tampered chain held is not there; the ones before the drain are.
    expect(await queueCommands({ host: '127.0.0.1', port: portOn(now) }, ['DOUBLE GET qbetween2', 'DOUBLE GET qtampered'])).toEqual(['YES', 'NO']);
    expect(storeLogOn(now)).not.toMatch(/rid=qtampered /);
  }, 300_000);

  it('leaves no store-log content in any log', async () => {
    const logs = await h.allLogs();
    expect(logs).not.toMatch(/rid=(seed|qbetween|qtampered)/);
    expect(logs).toMatch(/store log (base|delta) sent/);
  });
});
