/**
 * Where publishing keeps documents: a JetStream KV bucket, or (offline) a directory of files.
 * Both offer compare-and-set, so a concurrent writer is refused instead of overwritten.
 */
import type { KV } from '@nats-io/kv';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { ConcurrentUpdateError, getEntry, putIfRevision } from '#shared/nats/kv.ts';

export interface Store {
  /** The value and its revision, or null when the key is absent. */
  get(key: string): Promise<{ value: Uint8Array; revision: number } | null>;
  /** Writes when the key is still at `expected` (null: absent); throws ConcurrentUpdateError otherwise. */
  put(key: string, value: Uint8Array, expected: number | null): Promise<number>;
}

export function kvStore(kv: KV): Store {
  return { get: (key) => getEntry(kv, key), put: (key, value, expected) => putIfRevision(kv, key, value, expected) };
}

/** Files `<dir>/<key>.age` (0600); the revision is a counter kept in `<key>.rev`. One writer at a time. */
export function fileStore(dir: string): Store {
  const file = (key: string) => join(dir, `${key}.age`);
  const rev = async (key: string) => Number((await readFile(join(dir, `${key}.rev`), 'utf8').catch(() => '0')).trim()) || 0;
  return {
    async get(key) {
      const value = await readFile(file(key)).catch(() => null);
      return value === null ? null : { value: new Uint8Array(value), revision: await rev(key) };
    },
    async put(key, value, expected) {
      const current = await rev(key);
      if ((expected ?? 0) !== current) throw new ConcurrentUpdateError(key);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(file(key), value, { mode: 0o600 });
      await writeFileAtomic(join(dir, `${key}.rev`), String(current + 1), { mode: 0o600 });
      return current + 1;
    },
  };
}
