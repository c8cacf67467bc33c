/**
 * shared/fs/read-capped.ts: a user-named file is read up to a cap and no further, whatever it is —
 * a regular file, an endless device, a FIFO that is fed forever or never, a socket.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidInputError } from '#shared/errors.ts';
import { loadJson } from '#shared/fs/load-json.ts';
import { formatBytes, readCapped } from '#shared/fs/read-capped.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'onionfleet-read-capped-'));
const fifo = () => {
  const path = join(tmp(), 'fifo');
  execFileSync('mkfifo', [path]);
  return path;
};

/** Writes `total` bytes into the FIFO at `path` (opening it waits for a reader); resolves with the bytes the reader took before it closed. */
async function feed(path: string, total: number, delayMs = 0): Promise<number> {
  await new Promise((r) => setTimeout(r, delayMs));
  const handle = await open(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let written = 0;
  try {
    while (written < total) written += (await handle.write(chunk, 0, Math.min(chunk.length, total - written))).bytesWritten;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
  } finally {
    await handle.close();
  }
  return written;
}

const problem = async (p: Promise<unknown>) => {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidInputError);
  return (err as InvalidInputError).problems.map((x) => x.message);
};

describe('readCapped', () => {
  it('reads a file up to the cap, and refuses one byte more', async () => {
    const path = join(tmp(), 'ten');
    writeFileSync(path, '0123456789');
    expect(new TextDecoder().decode(await readCapped(path, 10))).toBe('0123456789');
    expect(await problem(readCapped(path, 9))).toEqual(['file is larger than 9 bytes']);
  });

  it('refuses a large regular file from its size, without reading it', async () => {
    const path = join(tmp(), 'sparse');
    writeFileSync(path, '');
    truncateSync(path, 64 * 1024 * 1024 * 1024); // 64 GiB of nothing, allocated by no one
    expect(await problem(readCapped(path, 8 * 1024 * 1024))).toEqual(['file is larger than 8 MiB']);
  });

  it('stops reading /dev/zero at the cap', async () => {
    expect(await problem(readCapped('/dev/zero', 1024 * 1024))).toEqual(['file is larger than 1 MiB']);
  });

  it('reads /dev/null as empty', async () => {
    expect(await readCapped('/dev/null', 10)).toHaveLength(0);
  });

  it('stops reading a FIFO fed forever at the cap, so the writer is cut off', async () => {
    const path = fifo();
    const writer = feed(path, 64 * 1024 * 1024);
    expect(await problem(readCapped(path, 1024 * 1024))).toEqual(['file is larger than 1 MiB']);
    expect(await writer).toBeLessThan(2 * 1024 * 1024);
  });

  it('reads a FIFO whose writer comes after the reader', async () => {
    const path = fifo();
    const writer = feed(path, 1000, 150);
    expect(await readCapped(path, 4096)).toHaveLength(1000);
    expect(await writer).toBe(1000);
  });

  it('gives up on a FIFO nobody writes to, instead of hanging', async () => {
    const path = fifo();
    const t0 = performance.now();
    expect(await problem(readCapped(path, 4096, { idleMs: 200 }))).toEqual(['nothing was written to this FIFO in 200 ms']);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('refuses a socket', async () => {
    const path = join(tmp(), 'sock');
    const server = createServer();
    await new Promise<void>((r) => server.listen(path, r));
    try {
      expect(await problem(readCapped(path, 10))).toEqual(['is a socket, not a file']);
    } finally {
      server.close();
    }
  });

  it('leaves errors of the system to the caller', async () => {
    await expect(readCapped('/nonexistent/x', 10)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(readCapped(tmp(), 10)).rejects.toMatchObject({ code: 'EISDIR' });
  });

  it('formats caps', () => {
    expect([formatBytes(8 * 1024 * 1024), formatBytes(512 * 1024), formatBytes(100)]).toEqual(['8 MiB', '512 KiB', '100 bytes']);
  });
});

describe('loadJson', () => {
  const Doc = z.object({ a: z.number() });

  it('refuses /dev/zero at its cap (--previous, --record, --previous-desired)', async () => {
    expect(await problem(loadJson('/dev/zero', Doc, 'a doc'))).toEqual(['file is larger than 16 MiB']);
  });

  it('refuses a file over a given cap and reads one within it', async () => {
    const path = join(tmp(), 'doc.json');
    writeFileSync(path, '{"a": 1}');
    expect(await loadJson(path, Doc, 'a doc', 8)).toEqual({ a: 1 });
    expect(await problem(loadJson(path, Doc, 'a doc', 7))).toEqual(['file is larger than 7 bytes']);
  });

  it('still names a missing file', async () => {
    expect(await problem(loadJson('/nonexistent/doc.json', Doc, 'a doc'))).toEqual(['no such file']);
  });
});
