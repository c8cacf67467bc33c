/**
 * An XFTP instance's data as its backups carry it (agent/backup/instance-data.ts,
 * shared/schema/instance-data.ts): the store log and the files it names, packed in the log's order
 * up to xftpFilesMaxBytes, unpacked strictly; and fleet.yaml's `continuity.xftpFilesMaxBytes`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readInstanceData, writeInstanceData } from '../../../agent/backup/instance-data.ts';
import { PATHS } from '../../../agent/render/paths.ts';
import { CONTINUITY_DEFAULTS, GroupContinuity, parseSizeBytes, resolveContinuity, XFTP_FILES_MAX_BYTES_LIMIT } from '#shared/schema/continuity.ts';
import { instanceDataHeader, liveFiles, packInstanceData, summarizeInstanceData, unpackInstanceData } from '#shared/schema/instance-data.ts';
import { planStoreLog } from '../../../agent/backup/store-log-chain.ts';

const ID = 'press-xftp-01';
const temps: string[] = [];
afterEach(async () => { await Promise.all(temps.splice(0).map((t) => rm(t, { recursive: true, force: true }))); });

const b64 = (b: Buffer) => b.toString('base64').replaceAll('+', '-').replaceAll('/', '_');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A device root with an XFTP instance's log directory; `put` adds a file as the server does (FNEW, FPUT, the file). */
async function device(): Promise<{ root: string; filesDir: string; logFile: string; put: (size: number, createdAt?: number) => Promise<{ id: string; data: Buffer }>; append: (line: string) => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'onionfleet-xftp-data-'));
  temps.push(root);
  const filesDir = join(root, PATHS.xftpFilesDir(ID));
  await mkdir(filesDir, { recursive: true });
  const logFile = join(root, PATHS.logDir('xftp', ID), 'file-server-store.log');
  await writeFile(logFile, '');
  const append = async (line: string) => writeFile(logFile, `${line}\n`, { flag: 'a' });
  return {
    root, filesDir, logFile, append,
    put: async (size, createdAt = 1_790_000_000) => {
      const id = b64(randomBytes(16));
      const data = randomBytes(size);
      await append(`FNEW ${id} ${b64(randomBytes(44))} ${size} ${b64(createHash('sha256').update(data).digest())} ${createdAt} active`);
      await writeFile(join(filesDir, id), data, { mode: 0o600 });
      await append(`FPUT ${id} ${b64(Buffer.from(join(filesDir, id)))}`);
      return { id, data };
    },
  };
}

const xftp = (maxBytes: number) => ({ id: ID, kind: 'xftp' as const, continuity: { xftpFilesMaxBytes: maxBytes } });

describe('XFTP instance data', () => {
  it('round-trips the store log and its files to another device, with the FPUT paths in its files directory', async () => {
    const a = await device();
    const one = await a.put(3000);
    const two = await a.put(70_000);
    const gone = await a.put(10);
    await a.append(`FDEL ${gone.id}`);
    await rm(join(a.filesDir, gone.id));
    const packed = await readInstanceData(a.root, xftp(1024 * 1024));
    expect(packed).not.toBeNull();
    expect(instanceDataHeader(packed ?? Buffer.alloc(0))).toEqual({ files: 'included', maxBytes: 1024 * 1024 });

    const b = await device();
    await rm(b.filesDir, { recursive: true });
    await writeInstanceData(b.root, 'xftp', ID, packed ?? Buffer.alloc(0));
    expect((await readdir(b.filesDir)).sort()).toEqual([one.id, two.id].sort());
    expect(sha(await readFile(join(b.filesDir, two.id)))).toBe(sha(two.data));
    expect((await stat(join(b.filesDir, one.id))).mode & 0o777).toBe(0o600);
    expect((await stat(b.filesDir)).mode & 0o777).toBe(0o700);
    const log = await readFile(b.logFile, 'utf8');
    // The same records, the paths moved to this device's files directory.
    expect(log.split('\n').map((l) => l.split(' ')[0])).toEqual((await readFile(a.logFile, 'utf8')).split('\n').map((l) => l.split(' ')[0]));
    expect(log).toContain(`FPUT ${one.id} ${b64(Buffer.from(join(b.filesDir, one.id)))}\n`);
    expect(log).not.toContain(b64(Buffer.from(join(a.filesDir, one.id))));
    // Read again on the new device: the same files in the same order.
    expect(unpackInstanceData((await readInstanceData(b.root, xftp(1024 * 1024))) ?? Buffer.alloc(0)).fileList.map((f) => f.name)).toEqual([one.id, two.id]);
  });

  it('grows by appending when a file is uploaded, so the chain sends a delta', async () => {
    const a = await device();
    await a.put(2000);
    const before = (await readInstanceData(a.root, xftp(100_000))) ?? Buffer.alloc(0);
    const added = await a.put(2000);
    const after = (await readInstanceData(a.root, xftp(100_000))) ?? Buffer.alloc(0);
    expect(after.subarray(0, before.byteLength).equals(before)).toBe(true);
    expect(after.includes(added.data)).toBe(true);
    const id = { fingerprint: `${'f'.repeat(43)}=`, epoch: 1 };
    const base = planStoreLog(before, undefined, id, () => '0123456789abcdef');
    if (base.kind !== 'base') throw new Error('expected a base');
    expect(planStoreLog(after, base.state, id).kind).toBe('delta');
  });

  it('leaves every file out when they add up to more than xftpFilesMaxBytes, and says so', async () => {
    const a = await device();
    await a.put(600);
    await a.put(600);
    const packed = (await readInstanceData(a.root, xftp(1000))) ?? Buffer.alloc(0);
    expect(instanceDataHeader(packed)).toEqual({ files: 'left-out', maxBytes: 1000 });
    const unpacked = unpackInstanceData(packed);
    expect(unpacked.fileList).toEqual([]);
    expect(unpacked.storeLog.equals(await readFile(a.logFile))).toBe(true);
    // Absent (a desired state made before the key): none.
    expect(instanceDataHeader((await readInstanceData(a.root, { id: ID, kind: 'xftp' })) ?? Buffer.alloc(0))?.files).toBe('left-out');
    // At the limit: included.
    expect(instanceDataHeader((await readInstanceData(a.root, xftp(1200))) ?? Buffer.alloc(0))?.files).toBe('included');
  });

  it('reads no data where there is no store log, and the SMP store log as it is', async () => {
    const root = await mkdtemp(join(tmpdir(), 'onionfleet-xftp-data-'));
    temps.push(root);
    expect(await readInstanceData(root, xftp(1000))).toBeNull();
    await mkdir(join(root, PATHS.logDir('smp', 'press-smp-01')), { recursive: true });
    await writeInstanceData(root, 'smp', 'press-smp-01', Buffer.from('NEW rid=a sid=b\n'));
    expect((await readInstanceData(root, { id: 'press-smp-01', kind: 'smp' }))?.toString()).toBe('NEW rid=a sid=b\n');
  });

  const header = 'onionfleet-xftp-data 1 files=included max=100000\n';
  it.each([
    ['a path in a name', `${header}FPUT a b\n\0file ../../etc/passwd 1\nx`, /a name the server never writes/],
    ['a dot name', `${header}\0file .. 1\nx`, /a name the server never writes/],
    ['a slash', `${header}\0file a/b 1\nx`, /a name the server never writes/],
    ['a file twice', `${header}\0file AAAA 1\nx\0file AAAA 1\nx`, /comes twice/],
    ['a file cut short', `${header}\0file AAAA 10\nxyz`, /cut short/],
    ['a size beyond the bound', `${header}\0file AAAA 999999999\nx`, /larger than the bound/],
    ['a frame without its line', `${header}\0file AAAA 1`, /no header line/],
    ['a malformed frame', `${header}\0fil AAAA 1\nx`, /malformed/],
    ['a file although left out', 'onionfleet-xftp-data 1 files=left-out max=0\n\0file AAAA 1\nx', /left out/],
    ['no header', 'FNEW …\n', /does not start with its header/],
  ])('refuses %s, and writes nothing', async (_what, archive, problem) => {
    const b = await device();
    await rm(b.logFile);
    await expect(writeInstanceData(b.root, 'xftp', ID, Buffer.from(archive, 'latin1'))).rejects.toThrow(problem);
    expect(await readdir(b.filesDir)).toEqual([]);
    expect(await readdir(join(b.root, PATHS.logDir('xftp', ID)))).toEqual(['files']);
    expect(await readdir(join(b.root, 'etc')).catch(() => [])).toEqual([]);
  });

  it('names live files in FPUT order: deleted and blocked ones and unreadable lines are not', () => {
    const line = (verb: string, id: string, rest = '') => `${verb} ${id}${rest}\n`;
    const path = (id: string) => ` ${b64(Buffer.from(`/x/files/${id}`))}`;
    const log = Buffer.from([
      line('FNEW', 'AAAA', ' k 10 d 1 active'), line('FNEW', 'BBBB', ' k 10 d 1 active'), line('FNEW', 'CCCC', ' k 10 d 1 active'),
      line('FPUT', 'BBBB', path('BBBB')), line('FPUT', 'AAAA', path('AAAA')), line('FPUT', 'CCCC', path('CCCC')),
      'garbage\n', line('FBLK', 'CCCC', ' reason=spam'), line('FNEW', 'DDDD', ' k 0 d 1 active'), line('FPUT', 'DDDD', path('DDDD')),
      line('FPUT', 'EEEE', ` ${b64(Buffer.from('/x/files/../../etc'))}`),
    ].join(''));
    expect(liveFiles(log).map((f) => f.name)).toEqual(['BBBB', 'AAAA']);
    // Packing only inserts what it is given, after its FPUT line; a partial last line stays last.
    const packed = packInstanceData(Buffer.concat([log, Buffer.from('FNEW partial')]), new Map([['AAAA', Buffer.from('z')]]), 5);
    const text = packed.toString('latin1');
    expect(text.indexOf('\0file AAAA 1\nz')).toBe(text.indexOf(`FPUT AAAA${path('AAAA')}\n`) + `FPUT AAAA${path('AAAA')}\n`.length);
    expect(text.endsWith('FNEW partial')).toBe(true);
    expect(unpackInstanceData(packed).storeLog.toString('latin1')).toBe(`${log.toString('latin1')}FNEW partial`);
  });
});

describe('continuity.xftpFilesMaxBytes', () => {
  const recipient = 'age1ty7gcq5tqu77wr72c6duthxusducq7enaj2kc8h92etqyf44cawqpgh5wf';
  it('takes sizes as fleet.yaml writes them, up to what a chain base carries', () => {
    expect(parseSizeBytes('512kb')).toBe(524_288);
    expect(parseSizeBytes('1mb')).toBe(1_048_576);
    expect(parseSizeBytes(0)).toBe(0);
    expect(parseSizeBytes('1MB')).toBeNull();
    expect(resolveContinuity('standard', GroupContinuity.parse({ xftpFilesMaxBytes: '2mb' }), recipient).xftpFilesMaxBytes).toBe(2 * 1024 * 1024);
    expect(resolveContinuity('high', undefined, recipient).xftpFilesMaxBytes).toBe(CONTINUITY_DEFAULTS.high.xftpFilesMaxBytes);
    expect(XFTP_FILES_MAX_BYTES_LIMIT).toBe(3 * 1024 * 1024);
    expect(GroupContinuity.safeParse({ xftpFilesMaxBytes: '3mb' }).success).toBe(true);
    const tooBig = GroupContinuity.safeParse({ xftpFilesMaxBytes: '3073kb' });
    expect(tooBig.error?.issues.map((i) => i.message)).toEqual([expect.stringMatching(/^must be at most 3mb/)]);
    expect(GroupContinuity.safeParse({ xftpFilesMaxBytes: '1 gb' }).error?.issues[0]?.message).toMatch(/^expected a size such as/);
    expect(GroupContinuity.safeParse({ xftpFilesMaxBytes: -1 }).success).toBe(false);
  });

  it('defaults to less as the tier rises, and to none at extreme', () => {
    const d = CONTINUITY_DEFAULTS;
    expect(d.standard.xftpFilesMaxBytes).toBeGreaterThanOrEqual(d.elevated.xftpFilesMaxBytes);
    expect(d.elevated.xftpFilesMaxBytes).toBeGreaterThan(d.high.xftpFilesMaxBytes);
    expect(d.extreme.xftpFilesMaxBytes).toBe(0);
    for (const t of Object.values(d)) expect(t.xftpFilesMaxBytes).toBeLessThanOrEqual(XFTP_FILES_MAX_BYTES_LIMIT);
  });
});

describe('what backup list says of XFTP files', () => {
  it('counts the included files, and says why they were left out', () => {
    const log = Buffer.from(`FNEW AAAA k 3 d 1 active\nFPUT AAAA ${b64(Buffer.from('/f/AAAA'))}\n`);
    expect(summarizeInstanceData(packInstanceData(log, new Map([['AAAA', Buffer.from('abc')]]), 4096)))
      .toEqual({ files: 'included', maxBytes: 4096, count: 1, bytes: 3, text: 'files included (1, 3 bytes; xftpFilesMaxBytes 4096)' });
    expect(summarizeInstanceData(packInstanceData(log, null, 2)).text).toBe('files left out (they add up to more than xftpFilesMaxBytes, 2 bytes)');
    expect(summarizeInstanceData(packInstanceData(log, null, 0)).text).toBe('files left out (xftpFilesMaxBytes is 0)');
    expect(() => summarizeInstanceData(Buffer.from('NEW rid=a sid=b\n'))).toThrow(/header/);
  });
});
