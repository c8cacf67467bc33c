/**
 * XFTP stored files in the backups (docs/continuity.md, "XFTP: the store log and its files"), with the
 * real nats-server, `serve` and agents: a file put into an XFTP instance before a drain is there,
 * byte for byte, on the device it moves to (same address); once the files add up to more than the
 * group's xftpFilesMaxBytes, `backup list` says they are left out and why, and the next drain moves
 * the store log (the file records) without the files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATHS } from '../../agent/render/paths.ts';
import { BIN, runBin } from '../support/cli.ts';
import { FleetHarness } from '../support/fleet-harness.ts';
import { until } from '../support/processes.ts';
import { fileCommands, putFile } from '../support/xftp-file-client.ts';

let h: FleetHarness;
let fleet: string;
const devices = [{ id: 'pi-a', operator: 'alice' }, { id: 'pi-b', operator: 'bob' }, { id: 'pi-c', operator: 'carol' }];
const instance = 'press-xftp-01';
const root = (id: string) => h.devices.get(id)?.root ?? '';
let view: ReturnType<FleetHarness['instanceView']>;
const runningDesired = (id: string) => view.desiredOn(id);
const holder = (except: readonly string[] = []) => view.holder(except);
const target = (device: string) => ({ host: '127.0.0.1', port: view.portOn(device) });
const cli = (...args: string[]) => runBin(BIN.onionfleet, [...args, '--state', h.state]);
const addressOn = (device: string) => ({
  onion: readFileSync(join(root(device), 'var/lib/tor/onionfleet', instance, 'hostname'), 'utf8').trim(),
  fingerprint: readFileSync(join(root(device), PATHS.configDir('xftp', instance), 'fingerprint'), 'utf8').trim(),
  password: runningDesired(device).instances.find((i) => i.id === instance)?.password ?? '',
});
const storeLogOn = (device: string) => readFileSync(join(root(device), PATHS.logDir('xftp', instance), 'file-server-store.log'), 'utf8');

interface Files { files: 'included' | 'left-out'; maxBytes: number; count: number; bytes: number; text: string }
interface Row { ok: boolean; instance: string | null; device: string; chain: { xftpFiles: Files | null } | null }

/** The files summary of the instance's newest backup from `device` once `ok` accepts it. */
async function filesOf(device: string, ok: (f: Files) => boolean): Promise<Files> {
  return until(`a backup of ${instance} from ${device} with its files as expected`, async () => {
    const run = await cli('backup', 'list', '--json');
    if (run.code !== 0) throw new Error(`backup list: ${run.stderr}`);
    const f = (JSON.parse(run.stdout) as { backups: Row[] }).backups.find((r) => r.ok && r.instance === instance && r.device === device)?.chain?.xftpFiles ?? null;
    return f !== null && ok(f) ? f : null;
  }, 90_000);
}

beforeAll(async () => {
  ({ h, fleet } = await FleetHarness.applied(devices, [{ id: 'press', smp: 1, xftp: 1, continuity: '{ backupInterval: 10s, xftpFilesMaxBytes: 64kb }' }]));
  view = h.instanceView(devices, instance);
}, 240_000);

afterAll(async () => {
  await h.stop();
}, 60_000);

let small = { id: '', sha256: '' };
let first = '';
let second = '';

describe('XFTP files in the backups', () => {
  it('carries a file put before a drain to the device the instance moves to, at the same address', async () => {
    first = holder();
    expect(first).not.toBe('');
    const before = addressOn(first);
    small = await putFile(target(first), 2000);
    const backed = await filesOf(first, (f) => f.files === 'included' && f.count === 1);
    expect(backed).toMatchObject({ bytes: 2000, maxBytes: 64 * 1024 });

    const drained = await cli('device', 'drain', first, '-f', fleet, '--timeout', '150');
    expect(drained.code, drained.stderr + drained.stdout).toBe(0);
    second = holder([first]);
    expect(second).not.toBe('');
    expect(addressOn(second)).toEqual(before);
    expect(await fileCommands(target(second), [`DOUBLE GET ${small.id}`, 'DOUBLE COUNT'])).toEqual([`2000 ${small.sha256}`, '1']);
    // The store log names the file where this device keeps it.
    expect(storeLogOn(second)).toContain(`FPUT ${small.id} ${Buffer.from(join(root(second), PATHS.xftpFilesDir(instance), small.id)).toString('base64').replaceAll('+', '-').replaceAll('/', '_')}\n`);
  }, 420_000);

  it('leaves the files out beyond xftpFilesMaxBytes, says so, and moves the store log without them', async () => {
    expect(second).not.toBe('');
    const big = await putFile(target(second), 100_000);
    const left = await filesOf(second, (f) => f.files === 'left-out');
    expect(left.text).toBe('files left out (they add up to more than xftpFilesMaxBytes, 65536 bytes)');
    const listed = await cli('backup', 'list');
    expect(listed.stdout).toMatch(new RegExp(`${instance}  on ${second} .*files left out \\(they add up to more than xftpFilesMaxBytes, 65536 bytes\\)`));

    const drained = await cli('device', 'drain', second, '-f', fleet, '--timeout', '150');
    expect(drained.code, drained.stderr + drained.stdout).toBe(0);
    const third = holder([first, second]);
    expect(third).not.toBe('');
    // The records came (both files are held), the files did not.
    expect(await fileCommands(target(third), ['DOUBLE COUNT', `DOUBLE GET ${small.id}`, `DOUBLE GET ${big.id}`])).toEqual(['2', 'NO', 'NO']);
    expect(storeLogOn(third)).toMatch(new RegExp(`^FNEW ${big.id} `, 'm'));
  }, 420_000);

  it('leaves no file id in any log, and the agent logs files left out', async () => {
    const logs = await h.allLogs();
    expect(logs).not.toContain(small.id);
    expect(logs).toMatch(/store log (base|delta) sent/);
    // The agent says so when it leaves the files out.
    expect(logs).toMatch(/XFTP files left out of the backup: they add up to more than xftpFilesMaxBytes/);
  });
});
