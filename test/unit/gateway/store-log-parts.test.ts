/**
 * The gateway's store-log parts (controller/gateway/store-log-parts.ts), against an in-memory stand-in
 * for the bucket (the real bucket is in test/integration/store-log-chain.test.ts): a framed part is
 * read by its name only, a new base's first chunk drops the slot's old chain (and nothing of another
 * slot), one device's parts land in arrival order even when the bucket is slow, and a device cannot
 * fill more than its slots.
 */
import type { KV } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import { StoreLogParts, storeLogPartWork } from '../../../controller/gateway/store-log-parts.ts';
import { BACKUP_MAX_BYTES, BACKUP_SLOTS_PER_DEVICE } from '#shared/nats/limits.ts';

/** The few bucket calls the gateway makes, over a Map; each call yields first (a slow bucket). */
function memoryBucket(): { kv: KV; values: Map<string, string> } {
  const values = new Map<string, string>();
  const tick = () => new Promise<void>((resolve) => { setImmediate(resolve); });
  const matches = (filter: string, key: string) => new RegExp(`^${filter.split('.').map((p) => (p === '*' ? '[^.]+' : p.replace(/[-]/g, '\\-'))).join('\\.')}$`).test(key);
  const kv = {
    async put(key: string, data: Uint8Array) { await tick(); values.set(key, new TextDecoder().decode(data)); return 1; },
    async purge(key: string) { await tick(); values.delete(key); },
    async keys(filter = '>') {
      await tick();
      const keys = [...values.keys()].filter((k) => filter === '>' || matches(filter, k));
      return (async function* gen() { for (const k of keys) yield await Promise.resolve(k); })();
    },
  } as unknown as KV;
  return { kv, values };
}
const bytes = (t: string) => new TextEncoder().encode(t);
const SLOT = '0123456789abcdef';
const OTHER = 'fedcba9876543210';

describe('framing a part', () => {
  it('takes `.` and a part name after the slot, and refuses a name out of bounds or an empty or oversized part', () => {
    expect(storeLogPartWork(SLOT, bytes('.d007age-encryption'))).toMatchObject({ slot: SLOT, part: 'd007' });
    expect(storeLogPartWork(SLOT, bytes('.b015x'))).toMatchObject({ part: 'b015' });
    for (const rest of ['.b016x', '.d000x', '.d033x', '.x001x', '.d001']) expect(storeLogPartWork(SLOT, bytes(rest))).toBeNull();
    expect(storeLogPartWork('not-a-slot-here!', bytes('.d001x'))).toBeNull();
    expect(storeLogPartWork(SLOT, new Uint8Array(5 + BACKUP_MAX_BYTES + 1).fill(0x2e))).toBeNull();
  });
});

describe('storing parts', () => {
  it('drops the old base and its deltas when a new base begins, keeps other slots, and stores in arrival order', async () => {
    const { kv, values } = memoryBucket();
    const parts = new StoreLogParts({ storeLogs: kv });
    await Promise.all(['b000', 'b001', 'd001', 'd002'].map((p) => parts.store('pi-a', SLOT, p, bytes(`old-${p}`))));
    await parts.store('pi-a', OTHER, 'b000', bytes('other'));
    // The new base's chunks, offered back to back: the second never lands before the first's purge.
    await Promise.all([parts.store('pi-a', SLOT, 'b000', bytes('new-b000')), parts.store('pi-a', SLOT, 'b001', bytes('new-b001'))]);
    expect(Object.fromEntries([...values].sort())).toEqual({
      [`pi-a.${OTHER}.b000`]: 'other',
      [`pi-a.${SLOT}.b000`]: 'new-b000',
      [`pi-a.${SLOT}.b001`]: 'new-b001',
    });
  });

  it('refuses a slot beyond the device\'s bound, not the parts of a slot it holds', async () => {
    const { kv } = memoryBucket();
    const parts = new StoreLogParts({ storeLogs: kv });
    const slot = (n: number) => n.toString(16).padStart(16, '0');
    for (let n = 0; n < BACKUP_SLOTS_PER_DEVICE; n++) await parts.store('pi-a', slot(n), 'b000', bytes('x'));
    await expect(parts.store('pi-a', slot(BACKUP_SLOTS_PER_DEVICE), 'b000', bytes('x'))).rejects.toThrow(/store-log slots already/);
    await expect(parts.store('pi-a', slot(0), 'd001', bytes('x'))).resolves.toBeUndefined();
    await expect(parts.store('pi-b', slot(BACKUP_SLOTS_PER_DEVICE), 'b000', bytes('x'))).resolves.toBeUndefined();
  });
});

describe('ordering with identity backups', () => {
  it('runs work queued after a device\'s parts only once they are stored', async () => {
    const { kv, values } = memoryBucket();
    const parts = new StoreLogParts({ storeLogs: kv });
    const seen: string[][] = [];
    const stored = [parts.store('pi-a', SLOT, 'b000', bytes('x')), parts.store('pi-a', SLOT, 'd001', bytes('y'))];
    await parts.after('pi-a', () => { seen.push([...values.keys()].sort()); return Promise.resolve(); });
    await Promise.all(stored);
    expect(seen).toEqual([[`pi-a.${SLOT}.b000`, `pi-a.${SLOT}.d001`]]);
  });
});
