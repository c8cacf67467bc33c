/**
 * A store log too large to ride inside a desired state (docs/continuity.md, "Restores larger than a
 * desired state"), with the real nats-server, `serve` and agents: an SMP instance holding thousands of
 * queues (its gzip'd log well over the 256 KiB a desired state carries) is drained; the device it
 * moves to downloads the log in parts through the gateway, and serves every queue at the same address.
 * So does an XFTP instance with more stored files (incompressible) than a desired state carries.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATHS } from '../../agent/render/paths.ts';
import { openSession } from '../../controller/bus/session.ts';
import { statePaths } from '../../controller/state/paths.ts';
import { STORE_LOG_MAX_BYTES } from '#shared/schema/identity.ts';
import { BIN, runBin } from '../support/cli.ts';
import { FleetHarness } from '../support/fleet-harness.ts';
import { until } from '../support/processes.ts';
import { queueCommands } from '../support/queue-client.ts';
import { fileCommands, putFile } from '../support/xftp-file-client.ts';

let h: FleetHarness;
let fleet: string;
const devices = [{ id: 'pi-a', operator: 'alice' }, { id: 'pi-b', operator: 'bob' }, { id: 'pi-c', operator: 'carol' }, { id: 'pi-d', operator: 'dave' }];
const instance = 'press-smp-01';
let view: ReturnType<FleetHarness['instanceView']>;
const cli = (...args: string[]) => runBin(BIN.onionfleet, [...args, '--state', h.state]);
const storeLogOn = (device: string) => readFileSync(join(h.devices.get(device)?.root ?? '', PATHS.logDir('smp', instance), 'smp-server-store.log'));

/** Queue ids as random as real ones (64 base64url characters), so the log hardly compresses. */
const queueIds = Array.from({ length: 6000 }, () => randomBytes(48).toString('base64url'));

beforeAll(async () => {
  ({ h, fleet } = await FleetHarness.applied(devices, [{ id: 'press', smp: 1, xftp: 1, continuity: '{ backupInterval: 10s, xftpFilesMaxBytes: 1mb }' }]));
  view = h.instanceView(devices, instance);
}, 240_000);

afterAll(async () => {
  await h.stop();
}, 60_000);

describe('a store log larger than a desired state carries', () => {
  it('is downloaded by the device an instance moves to, which serves every queue at the same address', async () => {
    const { holder, portOn, desiredOn } = view;
    const from = holder();
    const before = desiredOn(from).instances.find((i) => i.id === instance);
    // The double reads at most 4 KiB of commands at a time: 40 lines per connection.
    for (let n = 0; n < queueIds.length; n += 40) {
      const batch = queueIds.slice(n, n + 40);
      expect(await queueCommands({ host: '127.0.0.1', port: portOn(from) }, batch.map((q) => `DOUBLE NEW ${q}`))).toEqual(batch.map(() => 'OK'));
    }
    const log = storeLogOn(from);
    expect(gzipSync(log).byteLength).toBeGreaterThan(STORE_LOG_MAX_BYTES);
    // The chain's backup holds every queue before the drain (the tip is as long as the log now).
    await until('a backup whose chain holds the whole log', async () => {
      const run = await cli('backup', 'list', '--json');
      const rows = (JSON.parse(run.stdout) as { backups: { ok: boolean; instance: string | null; device: string; chain: { bytes: number } | null }[] }).backups;
      const row = rows.find((r) => r.ok && r.instance === instance && r.device === from);
      return row?.chain !== null && row?.chain !== undefined && row.chain.bytes > STORE_LOG_MAX_BYTES ? row : null;
    }, 120_000);

    const drained = await cli('device', 'drain', from, '-f', fleet, '--timeout', '240');
    expect(drained.code, drained.stderr + drained.stdout).toBe(0);
    const to = holder([from]);
    expect(to).not.toBe('');
    const moved = desiredOn(to).instances.find((i) => i.id === instance);
    // The same address; the log went as a download, not inside the document.
    expect(moved?.identity?.fingerprint).toBeDefined();
    expect(moved?.password).toBe(before?.password);
    expect(moved?.identity?.storeLogNote).toBe('fetch');
    expect(moved?.identity?.storeLog).toBeNull();
    expect(moved?.identity?.storeLogDownload?.parts).toBeGreaterThan(1);
    const answers = await queueCommands({ host: '127.0.0.1', port: portOn(to) }, ['DOUBLE COUNT', `DOUBLE GET ${queueIds[0] ?? ''}`, `DOUBLE GET ${queueIds.at(-1) ?? ''}`]);
    expect(answers).toEqual([String(queueIds.length), 'YES', 'YES']);

    // The parts wait in the restores bucket, sealed to that device only.
    const session = await openSession(statePaths(h.state), null);
    try {
      const keys: string[] = [];
      for await (const key of await session.restores.keys('>')) keys.push(key);
      expect(keys.length).toBe(moved?.identity?.storeLogDownload?.parts);
      expect(keys.every((k) => k.startsWith(`${to}.`))).toBe(true);
    } finally {
      await session.close();
    }
  }, 600_000);

  it('carries an XFTP instance\'s files beyond what a desired state carries', async () => {
    const xftp = h.instanceView(devices, 'press-xftp-01');
    const from = xftp.holder();
    const at = (device: string) => ({ host: '127.0.0.1', port: xftp.portOn(device) });
    const files = [await putFile(at(from), 200_000), await putFile(at(from), 200_000)];
    await until('a backup with both files', async () => {
      const run = await cli('backup', 'list', '--json');
      const rows = (JSON.parse(run.stdout) as { backups: { ok: boolean; instance: string | null; device: string; chain: { xftpFiles: { files: string; count: number } | null } | null }[] }).backups;
      return rows.some((r) => r.ok && r.instance === 'press-xftp-01' && r.device === from && r.chain?.xftpFiles?.files === 'included' && r.chain.xftpFiles.count === 2) ? true : null;
    }, 120_000);
    const drained = await cli('device', 'drain', from, '-f', fleet, '--timeout', '240');
    expect(drained.code, drained.stderr + drained.stdout).toBe(0);
    const to = xftp.holder([from]);
    expect(to).not.toBe('');
    expect(xftp.desiredOn(to).instances.find((i) => i.id === 'press-xftp-01')?.identity?.storeLogNote).toBe('fetch');
    expect(await fileCommands(at(to), [...files.map((f) => `DOUBLE GET ${f.id}`), 'DOUBLE COUNT'])).toEqual([...files.map((f) => `200000 ${f.sha256}`), '2']);
  }, 600_000);

  it('leaves no store-log content in any log', async () => {
    const logs = await h.allLogs();
    expect(logs).toMatch(/restore download [0-9a-f]{16} fetched/);
    for (const q of [queueIds[0], queueIds[2999], queueIds.at(-1)]) expect(logs).not.toContain(q);
  });
});
