// TEST DOUBLE of the SimpleX server — not the real thing. XFTP's stored files and their store log.
//
// As the real xftp-server keeps them (docs/reference/simplex-servers.md, "XFTP: files and their store
// log"; simplexmq Simplex.FileTransfer.Server.StoreLog, v6.4.5): each file is one plain file
// `<[FILES] path>/<sender id, base64url>`, and `<logPath>/file-server-store.log` holds one record per
// line, appended as files change and never edited in place. On start the server reads the log back
// (skipping lines it cannot read), writes it again compacted (per live file: FNEW, FADD, FPUT), then
// deletes the files older than `expire_files_hours` (file and FDEL record), and again every 2 hours.
//
// Records (simplexmq's FileStoreLogRecord, the same text; ids base64url with padding):
//   FNEW <sender id> <sender key> <size> <digest> <created at, s, rounded to the hour> <status>
//   FPUT <sender id> <the file's path, base64url>
//   FADD <sender id> <recipient id>:<recipient key>[,…]
//   FDEL <sender id>
//   FBLK <sender id> <blocking info>        (the file is deleted; the record stays, blocked)
//   FACK <recipient id>
// The double writes FNEW, FPUT and FDEL (it models no recipients and no blocking) and reads all six.
//
// The double models no XFTP client commands, so tests reach the store through its own extension: an
// HTTP/2 `POST /` whose body is `DOUBLE …` lines gets one answer line per line (over TLS with ALPN
// xftp/1, so through Tor too):
//   DOUBLE PUT <size>      → `<sender id> <sha256 hex>`: a file of `size` random bytes is stored and logged
//   DOUBLE GET <sender id> → `<size> <sha256 hex>` of the file on disk | `NO`
//   DOUBLE COUNT           → the number of files held
//   DOUBLE DELETE <sender id> → `OK` | `NO`
// Without a store log (`enable: off`) the records live in memory only and are lost on restart.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const FILE_STORE_LOG_NAME = 'file-server-store.log';
const ID = /^[A-Za-z0-9_-]{1,86}={0,2}$/;
/** simplexmq fileTimePrecision: creation times are rounded down to the hour. */
const FILE_TIME_PRECISION = 3600;
const b64url = (b) => b.toString('base64').replaceAll('+', '-').replaceAll('/', '_');

/** Parses one store-log line into a record, or null when it is not one. */
export function parseFileRecord(line) {
  const p = line.trim().split(' ');
  const [verb, id] = p;
  if (id === undefined || !ID.test(id)) return null;
  if (verb === 'FNEW' && (p.length === 6 || p.length === 7) && /^\d+$/.test(p[3]) && /^-?\d+$/.test(p[5])) {
    return { op: 'FNEW', id, key: p[2], size: Number(p[3]), digest: p[4], createdAt: Number(p[5]), status: p[6] ?? 'active' };
  }
  if (verb === 'FPUT' && p.length === 3 && /^[A-Za-z0-9_-]+={0,2}$/.test(p[2])) return { op: 'FPUT', id, path: Buffer.from(p[2], 'base64url').toString('latin1') };
  if (verb === 'FADD' && p.length === 3) return { op: 'FADD', id, recipients: p[2] };
  if ((verb === 'FDEL' || verb === 'FACK') && p.length === 2) return { op: verb, id };
  if (verb === 'FBLK' && p.length === 3) return { op: 'FBLK', id, info: p[2] };
  return null;
}

export function formatFileRecord(r) {
  switch (r.op) {
    case 'FNEW': return `FNEW ${r.id} ${r.key} ${r.size} ${r.digest} ${r.createdAt} ${r.status}`;
    case 'FPUT': return `FPUT ${r.id} ${b64url(Buffer.from(r.path, 'latin1'))}`;
    case 'FADD': return `FADD ${r.id} ${r.recipients}`;
    case 'FBLK': return `FBLK ${r.id} ${r.info}`;
    default: return `${r.op} ${r.id}`;
  }
}

/**
 * The file store of one running XFTP double. `open` reads the log back, compacts it and expires old
 * files; every change after that is on disk before it is acknowledged.
 */
export class FileStore {
  constructor(path, filesDir) {
    this.path = path;
    this.filesDir = filesDir;
    /** sender id → { key, size, digest, createdAt, status, path, recipients } */
    this.files = new Map();
    this.skipped = 0;
    this.expired = 0;
  }

  /** A store backed by `<logDir>/file-server-store.log` (null logDir: memory only), files in `filesDir`. */
  static open(logDir, filesDir, expireHours, nowSeconds = Math.floor(Date.now() / 1000)) {
    const store = new FileStore(logDir === null ? null : join(logDir, FILE_STORE_LOG_NAME), filesDir);
    mkdirSync(filesDir, { recursive: true });
    if (store.path === null) return store;
    const text = existsSync(store.path) ? readFileSync(store.path, 'latin1') : '';
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const r = parseFileRecord(line);
      if (r === null || !store.#replay(r)) store.skipped++;
    }
    // Compacted as simplexmq's writeFileStore does: per file (in sender-id order) FNEW, FADD, FPUT.
    const ids = store.#ids();
    const lines = ids.flatMap((id) => {
      const f = store.files.get(id);
      return [
        { op: 'FNEW', id, key: f.key, size: f.size, digest: f.digest, createdAt: f.createdAt, status: f.status },
        ...(f.recipients.length === 0 ? [] : [{ op: 'FADD', id, recipients: f.recipients.join(',') }]),
        ...(f.path === null ? [] : [{ op: 'FPUT', id, path: f.path }]),
      ].map((r) => `${formatFileRecord(r)}\n`);
    });
    writeFileSync(`${store.path}.tmp`, lines.join(''), { mode: 0o600 });
    renameSync(`${store.path}.tmp`, store.path);
    // Then expiry (simplexmq expireServerFiles at start).
    store.expire(expireHours, nowSeconds);
    return store;
  }

  /** Deletes the files created before now - ttl, by more than the rounding (file, then FDEL), as simplexmq's expireServerFiles. */
  expire(expireHours, nowSeconds = Math.floor(Date.now() / 1000)) {
    const old = nowSeconds - expireHours * 3600;
    for (const id of this.#ids()) {
      if (this.files.get(id).createdAt + FILE_TIME_PRECISION < old) {
        this.delete(id);
        this.expired++;
      }
    }
  }

  /** The sender ids in simplexmq's Map order (by the ids' bytes). */
  #ids() {
    return [...this.files.keys()].sort((a, b) => Buffer.compare(Buffer.from(a, 'base64url'), Buffer.from(b, 'base64url')));
  }

  /** Applies one record read back; false when the server would refuse it (logged as a processing error). */
  #replay(r) {
    const f = this.files.get(r.id);
    switch (r.op) {
      case 'FNEW':
        if (f !== undefined || r.size <= 0) return false;
        this.files.set(r.id, { key: r.key, size: r.size, digest: r.digest, createdAt: r.createdAt, status: r.status, path: null, recipients: [] });
        return true;
      case 'FPUT':
        if (f === undefined) return false;
        f.path = r.path;
        return true;
      case 'FADD':
        if (f === undefined) return false;
        f.recipients.push(...r.recipients.split(','));
        return true;
      case 'FDEL':
        return this.files.delete(r.id);
      case 'FBLK':
        if (f === undefined) return false;
        f.status = `blocked,${r.info}`;
        return true;
      case 'FACK':
        for (const file of this.files.values()) file.recipients = file.recipients.filter((x) => x.split(':')[0] !== r.id);
        return true;
      default:
        return false;
    }
  }

  #append(record) {
    if (this.path !== null) appendFileSync(this.path, `${formatFileRecord(record)}\n`, { mode: 0o600 });
  }

  /** Stores a new file of `size` random bytes (encrypted content looks random): FNEW, the file, FPUT. */
  put(size, nowSeconds = Math.floor(Date.now() / 1000)) {
    const id = b64url(randomBytes(16));
    const data = randomBytes(size);
    const key = b64url(generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' }));
    const createdAt = Math.floor(nowSeconds / FILE_TIME_PRECISION) * FILE_TIME_PRECISION;
    const record = { op: 'FNEW', id, key, size, digest: b64url(createHash('sha256').update(data).digest()), createdAt, status: 'active' };
    this.#append(record);
    this.files.set(id, { key, size, digest: record.digest, createdAt, status: 'active', path: null, recipients: [] });
    const path = join(this.filesDir, id);
    writeFileSync(path, data, { mode: 0o600 });
    this.#append({ op: 'FPUT', id, path });
    this.files.get(id).path = path;
    return { id, sha256: createHash('sha256').update(data).digest('hex') };
  }

  /** The stored file's size and SHA-256 as it is on disk, or null (no record, no path, or no file). */
  get(id) {
    const f = this.files.get(id);
    if (f === undefined || f.path === null || !existsSync(f.path)) return null;
    const data = readFileSync(f.path);
    return { size: data.byteLength, sha256: createHash('sha256').update(data).digest('hex') };
  }

  delete(id) {
    const f = this.files.get(id);
    if (f === undefined) return false;
    if (f.path !== null) rmSync(f.path, { force: true });
    this.#append({ op: 'FDEL', id });
    this.files.delete(id);
    return true;
  }

  /** The answer to one `DOUBLE …` line, or null when the line is not one. */
  answer(line) {
    const [verb, cmd, arg, ...rest] = line.trim().split(' ');
    if (verb !== 'DOUBLE' || rest.length > 0) return null;
    if (cmd === 'COUNT' && arg === undefined) return String(this.files.size);
    if (cmd === 'PUT' && /^\d{1,8}$/.test(arg ?? '') && Number(arg) > 0) {
      const put = this.put(Number(arg));
      return `${put.id} ${put.sha256}`;
    }
    if (arg === undefined || !ID.test(arg)) return null;
    if (cmd === 'GET') {
      const got = this.get(arg);
      return got === null ? 'NO' : `${got.size} ${got.sha256}`;
    }
    if (cmd === 'DELETE') return this.delete(arg) ? 'OK' : 'NO';
    return null;
  }
}
