/**
 * An XFTP instance's data as one byte string (docs/continuity.md, "XFTP: the store log and its
 * files"): what travels through the store-log chain as the instance's "store log bytes". Pure.
 *
 * Format (deterministic, append-friendly): one header line, then the store log
 * (`file-server-store.log`) verbatim, and right after each `FPUT` line whose file is included, a
 * frame with that file:
 *
 *     onionfleet-xftp-data 1 files=included max=<bytes>\n      (or files=left-out)
 *     FNEW …\n  FADD …\n  FPUT <sender id> <path, base64url>\n
 *     \0file <name> <size>\n<size raw bytes>
 *     FNEW …\n  …
 *
 * A store-log line never starts with NUL, so a frame cannot be mistaken for one. The server appends
 * to its log and never rewrites a file it put (it deletes it), so while the log only grows and no
 * included file goes away, the next archive starts with the previous one: the chain sends a delta.
 * Files are encrypted by their senders (incompressible); they are included only while their total is
 * at most the group's `xftpFilesMaxBytes`, otherwise all are left out and the header says so.
 */
import { posix } from 'node:path';

export const INSTANCE_DATA_MAGIC = 'onionfleet-xftp-data 1';
/** A file's name in the files directory: the sender id, base64url with padding (16 bytes: 24 characters). */
export const XFTP_FILE_NAME = /^[A-Za-z0-9_-]{1,86}={0,2}$/;
/** Bounds of an archive this code reads back: more than any chain can carry (STORE_LOG_RAW_MAX_BYTES is 64 MiB). */
export const INSTANCE_DATA_MAX_FILES = 100_000;
export const INSTANCE_DATA_MAX_FILE_BYTES = 64 * 1024 * 1024;
export const INSTANCE_DATA_MAX_TOTAL_BYTES = 64 * 1024 * 1024;

export type FilesNote = 'included' | 'left-out';

export interface InstanceDataHeader {
  readonly files: FilesNote;
  /** The group's xftpFilesMaxBytes when the archive was made. */
  readonly maxBytes: number;
}

export interface UnpackedInstanceData extends InstanceDataHeader {
  readonly storeLog: Buffer;
  /** In archive order (the store log's). */
  readonly fileList: readonly { readonly name: string; readonly data: Buffer }[];
}

/** The file name a store-log FPUT path names (its last component), or null when it is not one the server writes. */
export function fileNameOfPath(path: string): string | null {
  const name = posix.basename(path);
  return XFTP_FILE_NAME.test(name) ? name : null;
}

const b64urlPadded = (b: Buffer) => b.toString('base64').replaceAll('+', '-').replaceAll('/', '_');
const decodePath = (text: string): string | null => (/^[A-Za-z0-9_-]+={0,2}$/.test(text) ? Buffer.from(text, 'base64url').toString('latin1') : null);

interface Line { readonly start: number; readonly end: number; readonly complete: boolean }

function lines(log: Buffer): Line[] {
  const out: Line[] = [];
  let start = 0;
  while (start < log.byteLength) {
    const nl = log.indexOf(0x0a, start);
    if (nl < 0) {
      out.push({ start, end: log.byteLength, complete: false });
      break;
    }
    out.push({ start, end: nl + 1, complete: true });
    start = nl + 1;
  }
  return out;
}

/**
 * The files the store log holds now, in the order of their `FPUT` records: sender id and the file
 * name of its path. Replays FNEW, FPUT, FDEL and FBLK (a blocked file is deleted from disk); a line
 * it cannot read is skipped, as the server skips it.
 */
export function liveFiles(log: Buffer): { readonly senderId: string; readonly name: string; readonly line: number }[] {
  const created = new Set<string>();
  const put = new Map<string, { name: string; line: number }>();
  lines(log).forEach((l, index) => {
    if (!l.complete) return;
    const parts = log.subarray(l.start, l.end).toString('latin1').trim().split(' ');
    const [verb, id] = parts;
    if (id === undefined || !XFTP_FILE_NAME.test(id)) return;
    if (verb === 'FNEW' && parts.length >= 6 && Number(parts[3]) > 0) created.add(id);
    else if (verb === 'FPUT' && parts.length === 3 && created.has(id) && !put.has(id)) {
      const name = fileNameOfPath(decodePath(parts[2] ?? '') ?? '');
      if (name !== null) put.set(id, { name, line: index });
    } else if ((verb === 'FDEL' || verb === 'FBLK') && parts.length >= 2) {
      created.delete(id);
      put.delete(id);
    }
  });
  return [...put].map(([senderId, p]) => ({ senderId, ...p })).sort((a, b) => a.line - b.line);
}

/**
 * The archive of `log` with `files` (name → content) inserted after their FPUT lines, or with none
 * when `files` is null (left out). `files` holds only what liveFiles named and could be read.
 */
export function packInstanceData(log: Buffer, files: ReadonlyMap<string, Buffer> | null, maxBytes: number): Buffer {
  const header = `${INSTANCE_DATA_MAGIC} files=${files === null ? 'left-out' : 'included'} max=${maxBytes}\n`;
  const out: Buffer[] = [Buffer.from(header, 'latin1')];
  const after = new Map<number, string>();
  if (files !== null) for (const f of liveFiles(log)) if (files.has(f.name)) after.set(f.line, f.name);
  lines(log).forEach((l, index) => {
    out.push(log.subarray(l.start, l.end));
    const name = after.get(index);
    const data = name === undefined ? undefined : files?.get(name);
    if (name !== undefined && data !== undefined) out.push(Buffer.from(`\0file ${name} ${data.byteLength}\n`, 'latin1'), data);
  });
  return Buffer.concat(out);
}

/** The header of an archive, or null when `bytes` is not one (for `backup list`: no file is unpacked). */
export function instanceDataHeader(bytes: Buffer): InstanceDataHeader | null {
  const nl = bytes.indexOf(0x0a);
  if (nl < 0 || nl > 200) return null;
  const m = /^onionfleet-xftp-data 1 files=(included|left-out) max=(\d{1,12})$/.exec(bytes.subarray(0, nl).toString('latin1'));
  return m === null ? null : { files: m[1] as FilesNote, maxBytes: Number(m[2]) };
}

/**
 * Reads an archive back, strictly: the header must be this format's, every frame must name a file
 * the server could have written (no `/`, no `..`), once, with a size that is there and within the
 * bounds. Throws (naming the problem, never content) otherwise.
 */
export function unpackInstanceData(bytes: Buffer): UnpackedInstanceData {
  const header = instanceDataHeader(bytes);
  if (header === null) throw new Error('the XFTP data does not start with its header');
  const log: Buffer[] = [];
  const fileList: { name: string; data: Buffer }[] = [];
  const seen = new Set<string>();
  let total = 0;
  let at = bytes.indexOf(0x0a) + 1;
  while (at < bytes.byteLength) {
    const nl = bytes.indexOf(0x0a, at);
    const end = nl < 0 ? bytes.byteLength : nl + 1;
    if (bytes[at] !== 0) {
      log.push(bytes.subarray(at, end));
      at = end;
      continue;
    }
    if (header.files !== 'included') throw new Error('the XFTP data holds a file although its header says files were left out');
    if (nl < 0 || nl - at > 120) throw new Error('a file frame of the XFTP data has no header line');
    const m = /^\0file (\S+) (\d{1,9})$/.exec(bytes.subarray(at, nl).toString('latin1'));
    if (m === null) throw new Error('a file frame of the XFTP data is malformed');
    const [, name = '', sizeText = ''] = m;
    const size = Number(sizeText);
    if (!XFTP_FILE_NAME.test(name)) throw new Error('a file of the XFTP data has a name the server never writes');
    if (seen.has(name)) throw new Error('a file of the XFTP data comes twice');
    if (size > INSTANCE_DATA_MAX_FILE_BYTES || total + size > INSTANCE_DATA_MAX_TOTAL_BYTES) throw new Error('the files of the XFTP data are larger than the bound');
    if (fileList.length >= INSTANCE_DATA_MAX_FILES) throw new Error('the XFTP data holds more files than the bound');
    if (nl + 1 + size > bytes.byteLength) throw new Error('a file of the XFTP data is cut short');
    seen.add(name);
    total += size;
    fileList.push({ name, data: bytes.subarray(nl + 1, nl + 1 + size) });
    at = nl + 1 + size;
  }
  return { ...header, storeLog: Buffer.concat(log), fileList };
}

/**
 * The store log with every FPUT path moved to `filesDir` (same file name): the log names absolute
 * paths, and the device a restore writes to keeps its files in its own directory. Lines that are
 * not FPUT records, or name no file the server writes, stay as they are.
 */
export function relocateFilePaths(log: Buffer, filesDir: string): Buffer {
  return Buffer.concat(lines(log).map((l) => {
    const text = log.subarray(l.start, l.end).toString('latin1');
    const m = /^FPUT (\S+) (\S+)(\r?\n)$/.exec(text);
    const name = m === null ? null : fileNameOfPath(decodePath(m[2] ?? '') ?? '');
    if (m === null || name === null) return log.subarray(l.start, l.end);
    return Buffer.from(`FPUT ${m[1] ?? ''} ${b64urlPadded(Buffer.from(posix.join(filesDir, name), 'latin1'))}${m[3] ?? ''}`, 'latin1');
  }));
}

/** What `backup list` says of an XFTP instance's files: in the backup, or left out and why. */
export interface FilesSummary {
  readonly files: FilesNote;
  readonly maxBytes: number;
  /** Included: how many and their bytes (left out: 0). */
  readonly count: number;
  readonly bytes: number;
  readonly text: string;
}

/** The summary of an archive; throws like unpackInstanceData when it does not read back. */
export function summarizeInstanceData(bytes: Buffer): FilesSummary {
  const u = unpackInstanceData(bytes);
  const total = u.fileList.reduce((n, f) => n + f.data.byteLength, 0);
  const text = u.files === 'included'
    ? `files included (${u.fileList.length}, ${total} bytes; xftpFilesMaxBytes ${u.maxBytes})`
    : u.maxBytes === 0 ? 'files left out (xftpFilesMaxBytes is 0)' : `files left out (they add up to more than xftpFilesMaxBytes, ${u.maxBytes} bytes)`;
  return { files: u.files, maxBytes: u.maxBytes, count: u.fileList.length, bytes: total, text };
}
