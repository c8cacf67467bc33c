/**
 * The XFTP double's files and store log (test/doubles/simplex-double-files.mjs): files are stored in
 * the [FILES] path under their sender id and recorded (FNEW, FPUT) before they are acknowledged, read
 * back on start (after a clean stop and after SIGKILL), the log compacted, and files older than
 * expire_files_hours deleted. Real double processes on loopback; each test stops exactly the children
 * it started.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { probeIdentity } from '#shared/probes/tls-identity.ts';
import { fileCommands, putFile } from '../support/xftp-file-client.ts';
import { freePort, stopChild, until } from '../support/processes.ts';
import { startDoubleProcess } from '../support/simplex-server.ts';

const XFTP = fileURLToPath(new URL('../doubles/xftp-server', import.meta.url));
const HOST = 'ajv3m4uu3oo5gzcqqgq3k7g4zxfk6icrqjgyhplorn6p5ufmwsftrlid.onion';
const children: ChildProcess[] = [];
const temps: string[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) await stopChild(child, 'SIGKILL');
  await Promise.all(temps.splice(0).map((t) => rm(t, { recursive: true, force: true })));
});

interface Double { env: NodeJS.ProcessEnv; log: string; files: string; port: number; ini: string }

async function initDouble(): Promise<Double> {
  const root = await mkdtemp(join(tmpdir(), 'onionfleet-xftp-files-'));
  temps.push(root);
  const env = { ...process.env, XFTP_SERVER_CFG_PATH: join(root, 'cfg'), XFTP_SERVER_LOG_PATH: join(root, 'log') };
  // A long path, as on a device (/var/opt/simplex-xftp/<instance>/files): FPUT records carry it whole.
  const files = join(root, 'var/opt/simplex-xftp/newsroom-xftp-01/files');
  const init = spawnSync(XFTP, ['init', '-l', '-n', HOST, '-p', files, '-q', '1gb'], { env, encoding: 'utf8', timeout: 60_000 });
  if (init.status !== 0) throw new Error(`init failed: ${init.stdout}${init.stderr}`);
  const port = await freePort();
  const ini = join(root, 'cfg', 'file-server.ini');
  await writeFile(ini, (await readFile(ini, 'utf8')).replace(/^port: .*$/m, `port: ${port}`));
  return { env, log: join(root, 'log'), files, port, ini };
}

async function start(d: Double): Promise<{ child: ChildProcess; out: () => string }> {
  const started = await startDoubleProcess(XFTP, d.env, d.port);
  children.push(started.child);
  return started;
}

const b64 = (b: Buffer) => b.toString('base64').replaceAll('+', '-').replaceAll('/', '_');

describe('the XFTP double keeps files and a store log', () => {
  it('stores files under their sender id, records them, and reads them back after a clean stop and after SIGKILL', async () => {
    const d = await initDouble();
    const first = await start(d);
    const target = { host: '127.0.0.1', port: d.port };
    const a = await putFile(target, 5000);
    const b = await putFile(target, 70_000);
    const c = await putFile(target, 10);
    expect(await fileCommands(target, [`DOUBLE GET ${a.id}`, `DOUBLE DELETE ${c.id}`, `DOUBLE GET ${c.id}`, 'DOUBLE COUNT'])).toEqual([`5000 ${a.sha256}`, 'OK', 'NO', '2']);
    // The file is the server's: its name the sender id, its content what GET hashes.
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{22}==$/);
    expect(createHash('sha256').update(await readFile(join(d.files, b.id))).digest('hex')).toBe(b.sha256);
    expect((await readdir(d.files)).sort()).toEqual([a.id, b.id].sort());
    const log = await readFile(join(d.log, 'file-server-store.log'), 'utf8');
    expect(log.split('\n').filter(Boolean).map((l) => l.split(' ')[0])).toEqual(['FNEW', 'FPUT', 'FNEW', 'FPUT', 'FNEW', 'FPUT', 'FDEL']);
    expect(log).toMatch(new RegExp(`^FNEW ${a.id} [A-Za-z0-9_-]+=* 5000 [A-Za-z0-9_-]{43}= \\d+ active$`, 'm'));
    expect(log).toContain(`FPUT ${a.id} ${b64(Buffer.from(join(d.files, a.id)))}\n`);

    await stopChild(first.child, 'SIGINT');
    await start(d);
    expect(await fileCommands(target, [`DOUBLE GET ${a.id}`, `DOUBLE GET ${b.id}`, `DOUBLE GET ${c.id}`, 'DOUBLE COUNT'])).toEqual([`5000 ${a.sha256}`, `70000 ${b.sha256}`, 'NO', '2']);
    // Compacted on start: per file FNEW and FPUT, no FDEL.
    expect((await readFile(join(d.log, 'file-server-store.log'), 'utf8')).split('\n').filter(Boolean).map((l) => l.split(' ')[0])).toEqual(['FNEW', 'FPUT', 'FNEW', 'FPUT']);

    // A record is on disk before the answer: SIGKILL loses nothing acknowledged.
    const e = await putFile(target, 100);
    await stopChild(children.at(-1), 'SIGKILL');
    const third = await start(d);
    expect(await fileCommands(target, [`DOUBLE GET ${e.id}`, 'DOUBLE COUNT'])).toEqual([`100 ${e.sha256}`, '3']);
    await until('the start line', () => (/Store log: .*file-server-store\.log/.test(third.out()) ? true : null));
    // The double's contract otherwise unchanged: the identity probe still answers over HTTP/2.
    const fp = (await readFile(join(String(d.env.XFTP_SERVER_CFG_PATH), 'fingerprint'), 'utf8')).trim();
    expect((await probeIdentity({ kind: 'xftp', fingerprint: fp, host: '127.0.0.1', port: d.port, timeoutMs: 5000 })).reachable).toBe(true);
  });

  it('deletes files older than expire_files_hours on start, skips lines it cannot read, and without a store log files do not survive', async () => {
    const d = await initDouble();
    const first = await start(d);
    const target = { host: '127.0.0.1', port: d.port };
    const fresh = await putFile(target, 300);
    await stopChild(first.child, 'SIGINT');
    // A file created 50 hours ago (rounded to the hour, as the server does) and a line that is no record.
    const oldId = b64(Buffer.alloc(16, 7));
    const created = Math.floor((Date.now() / 1000 - 50 * 3600) / 3600) * 3600;
    await writeFile(join(d.files, oldId), 'x'.repeat(64), { mode: 0o600 });
    await writeFile(join(d.log, 'file-server-store.log'), `${await readFile(join(d.log, 'file-server-store.log'), 'utf8')}GARBAGE\nFNEW ${oldId} ${b64(Buffer.alloc(44, 1))} 64 ${b64(Buffer.alloc(32, 2))} ${created} active\nFPUT ${oldId} ${b64(Buffer.from(join(d.files, oldId)))}\n`);
    const second = await start(d);
    expect(await fileCommands(target, [`DOUBLE GET ${fresh.id}`, `DOUBLE GET ${oldId}`, 'DOUBLE COUNT'])).toEqual([`300 ${fresh.sha256}`, 'NO', '1']);
    expect(await readdir(d.files)).toEqual([fresh.id]);
    expect(await readFile(join(d.log, 'file-server-store.log'), 'utf8')).toMatch(new RegExp(`FDEL ${oldId}\n$`));
    await stopChild(second.child, 'SIGINT');
    expect(await readFile(join(d.log, 'file-server.log'), 'utf8')).toMatch(/files=1 skipped=1 expired=1/);

    await writeFile(d.ini, (await readFile(d.ini, 'utf8')).replace(/^enable: on$/m, 'enable: off'));
    const third = await start(d);
    expect(await fileCommands(target, ['DOUBLE COUNT', 'DOUBLE PUT 10', 'DOUBLE COUNT'])).toEqual(['0', expect.stringMatching(/^\S+ [0-9a-f]{64}$/), '1']);
    await stopChild(third.child, 'SIGINT');
    await start(d);
    expect(await fileCommands(target, ['DOUBLE COUNT'])).toEqual(['0']);
  });
});
