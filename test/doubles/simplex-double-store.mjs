// TEST DOUBLE of the SimpleX server — not the real thing. The SMP store log.
//
// As the real smp-server keeps it (docs/reference/simplex-servers.md, "The store log"): the file
// `<logPath>/smp-server-store.log`, one queue record per line, appended as queues change and never
// edited in place; on start the server reads it back (skipping lines it cannot read), holds the
// queues in memory, and writes the log again compacted (only the live queues), atomically.
//
// Records the double writes (a subset of simplexmq's StoreLogRecord, same verbs):
//   NEW rid=<base64url> sid=<base64url>      a queue was created (recipient id, sender id)
//   DELETE <rid>                             a queue was deleted
//
// The double models no SMP client commands, so tests reach the store through its own extension:
// after the server hello a client may send one line and gets one line back (over TLS, so over Tor too):
//   DOUBLE NEW <rid>   → `OK`   (the queue is created and its record appended to the log)
//   DOUBLE GET <rid>   → `YES` | `NO`
//   DOUBLE COUNT       → the number of queues held
//   DOUBLE DELETE <rid> → `OK` | `NO`
// Anything else on the wire is ignored, as before. Without a store log (`enable: off`) queues live in
// memory only and are lost on restart, as with the real server.
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const STORE_LOG_NAME = 'smp-server-store.log';
const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Parses one store-log line into a record, or null when it is not one. */
export function parseRecord(line) {
  const parts = line.trim().split(' ');
  if (parts[0] === 'NEW' && parts.length === 3) {
    const rid = /^rid=(.+)$/.exec(parts[1])?.[1];
    const sid = /^sid=(.+)$/.exec(parts[2])?.[1];
    if (rid !== undefined && sid !== undefined && ID.test(rid) && ID.test(sid)) return { op: 'NEW', rid, sid };
  }
  if (parts[0] === 'DELETE' && parts.length === 2 && ID.test(parts[1])) return { op: 'DELETE', rid: parts[1] };
  return null;
}

export const formatRecord = (r) => (r.op === 'NEW' ? `NEW rid=${r.rid} sid=${r.sid}` : `DELETE ${r.rid}`);

/**
 * The queue store of one running SMP double. `open` reads the log back and compacts it; every
 * change after that is appended before it is acknowledged.
 */
export class QueueStore {
  constructor(path) {
    this.path = path;
    this.queues = new Map();
    this.skipped = 0;
  }

  /** A store backed by `<logDir>/smp-server-store.log` (null logDir: memory only). */
  static open(logDir) {
    const store = new QueueStore(logDir === null ? null : join(logDir, STORE_LOG_NAME));
    if (store.path === null) return store;
    const text = existsSync(store.path) ? readFileSync(store.path, 'utf8') : '';
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const r = parseRecord(line);
      if (r === null) store.skipped++;
      else if (r.op === 'NEW') store.queues.set(r.rid, r.sid);
      else store.queues.delete(r.rid);
    }
    const compacted = [...store.queues].map(([rid, sid]) => `${formatRecord({ op: 'NEW', rid, sid })}\n`).join('');
    writeFileSync(`${store.path}.tmp`, compacted, { mode: 0o600 });
    renameSync(`${store.path}.tmp`, store.path);
    return store;
  }

  #append(record) {
    if (this.path !== null) appendFileSync(this.path, `${formatRecord(record)}\n`, { mode: 0o600 });
  }

  create(rid) {
    if (this.queues.has(rid)) return;
    const sid = randomBytes(12).toString('base64url');
    this.#append({ op: 'NEW', rid, sid });
    this.queues.set(rid, sid);
  }

  delete(rid) {
    if (!this.queues.has(rid)) return false;
    this.#append({ op: 'DELETE', rid });
    this.queues.delete(rid);
    return true;
  }

  /** The answer to one `DOUBLE …` line, or null when the line is not one. */
  answer(line) {
    const [verb, cmd, arg, ...rest] = line.trim().split(' ');
    if (verb !== 'DOUBLE' || rest.length > 0) return null;
    if (cmd === 'COUNT' && arg === undefined) return String(this.queues.size);
    if (arg === undefined || !ID.test(arg)) return null;
    if (cmd === 'NEW') {
      this.create(arg);
      return 'OK';
    }
    if (cmd === 'GET') return this.queues.has(arg) ? 'YES' : 'NO';
    if (cmd === 'DELETE') return this.delete(arg) ? 'OK' : 'NO';
    return null;
  }
}

/** Reads `DOUBLE …` lines from a socket after the hello and answers each with one line. */
export function serveStoreCommands(socket, store) {
  let buffered = '';
  socket.on('data', (chunk) => {
    buffered += chunk.toString('latin1');
    if (buffered.length > 4096) {
      socket.destroy();
      return;
    }
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const reply = store.answer(line);
      if (reply !== null) socket.write(`${reply}\n`);
    }
  });
}
