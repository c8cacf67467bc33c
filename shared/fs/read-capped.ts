/**
 * Reads a file a user named, but never more than a cap: at most `maxBytes + 1` bytes are read, so
 * `-f /dev/zero` or a FIFO fed forever costs `maxBytes` of memory, not all of it.
 *
 * - Regular files larger than the cap are refused from their size, without reading.
 * - Character devices (`/dev/zero`, a terminal) are read like files, with the cap.
 * - A FIFO (`mkfifo`, `<(…)`, `/dev/stdin` on a pipe) is opened without blocking and read through
 *   the event loop, so a FIFO that nobody writes to is refused after `idleMs` instead of hanging.
 * - A socket is refused.
 *
 * Throws {@link InvalidInputError} (exit 2) for a file over the cap, a silent FIFO or a socket; any
 * other failure is the `NodeJS.ErrnoException` of the system call (ENOENT, EISDIR, EACCES…) for the
 * caller to name in its own words.
 */
import { constants, open as openCallback } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { promisify } from 'node:util';
import { InvalidInputError } from '../errors.ts';

const openFd = promisify(openCallback);

/** How long a FIFO may stay silent (no writer yet, or a writer that writes nothing) before it is refused. */
export const FIFO_IDLE_MS = 60_000;
const CHUNK_BYTES = 1024 * 1024;

export interface ReadCappedOptions {
  /** See {@link FIFO_IDLE_MS}. */
  readonly idleMs?: number;
}

/** `8 MiB`, `512 KiB`, `100 bytes`. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / 1024 / 1024} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** The problem for input over the cap, worded as `controller/spec/parse.ts` words it. */
export function tooLarge(source: string, maxBytes: number): InvalidInputError {
  return new InvalidInputError([{ source, message: `file is larger than ${formatBytes(maxBytes)}` }]);
}

/** At most `maxBytes` bytes of `path`; more is refused (see the module comment). */
export async function readCapped(path: string, maxBytes: number, options: ReadCappedOptions = {}): Promise<Uint8Array> {
  const info = await stat(path);
  if (info.isSocket()) throw new InvalidInputError([{ source: path, message: 'is a socket, not a file' }]);
  if (info.isFIFO()) return readFifo(path, maxBytes, options.idleMs ?? FIFO_IDLE_MS);
  if (info.isFile() && info.size > maxBytes) throw tooLarge(path, maxBytes);
  const handle = await open(path, 'r');
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    // The size seen above is only a hint: the file may grow, and a device has none.
    for (;;) {
      const want = Math.min(CHUNK_BYTES, maxBytes + 1 - total);
      const chunk = new Uint8Array(want);
      const { bytesRead } = await handle.read(chunk, 0, want, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(path, maxBytes);
    }
    return concat(chunks, total);
  } finally {
    await handle.close();
  }
}

/**
 * A FIFO opened with O_NONBLOCK does not wait for a writer, and as a pipe socket it is read through
 * the event loop, so the idle timer can give up on it (a blocking read in the thread pool could not
 * be abandoned). Until a writer has come and gone, Linux reports no end of file: a writer that opens
 * the FIFO after us is still read.
 */
async function readFifo(path: string, maxBytes: number, idleMs: number): Promise<Uint8Array> {
  const fd = await openFd(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const socket = new Socket({ fd, readable: true, writable: false });
  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    let done = false;
    const finish = (result: { bytes: Uint8Array } | { error: unknown }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if ('bytes' in result) resolve(result.bytes);
      else reject(result.error instanceof Error ? result.error : new Error(String(result.error)));
    };
    const wait = idleMs >= 1000 ? `${Math.round(idleMs / 1000)} s` : `${idleMs} ms`;
    const silent = () => {
      finish({ error: new InvalidInputError([{ source: path, message: `nothing was written to this FIFO in ${wait}` }]) });
    };
    const timer = setTimeout(silent, idleMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.byteLength;
      if (total > maxBytes) finish({ error: tooLarge(path, maxBytes) });
      else timer.refresh();
    });
    socket.on('end', () => { finish({ bytes: concat(chunks, total) }); });
    socket.on('error', (error) => { finish({ error }); });
  });
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
