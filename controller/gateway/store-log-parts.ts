/**
 * The gateway's side of the store-log chains (docs/continuity.md, "Store logs: base and deltas"):
 * each part a device sends is stored as `<device>.<slot>.<part>` in the `store-logs` bucket (history
 * 1), still sealed — the gateway reads only the part's name (`b000`… a base chunk, `d001`… a delta).
 * A new base's first chunk drops the slot's other parts (the old base and its deltas), so a chain
 * never outgrows one base and its deltas. One device's parts are stored one at a time, in the order
 * they arrived (a base's later chunks never race its first). A device fills at most
 * BACKUP_SLOTS_PER_DEVICE slots here too.
 */
import type { KV } from '@nats-io/kv';
import { BACKUP_MAX_BYTES, BACKUP_SLOTS_PER_DEVICE } from '#shared/nats/limits.ts';
import { parsePartName } from '#shared/schema/store-log-chain.ts';

const PART_NAME_CHARS = 4;

/** The work of a framed part (`.` + its name, then the sealed bytes), or null when it is not well formed. */
export function storeLogPartWork(slot: string, rest: Uint8Array): { op: 'backup'; slot: string; part: string; data: Uint8Array } | null {
  const part = new TextDecoder().decode(rest.subarray(1, 1 + PART_NAME_CHARS));
  const data = rest.subarray(1 + PART_NAME_CHARS);
  if (!/^[0-9a-f]{16}$/.test(slot) || parsePartName(part) === null || data.byteLength === 0 || data.byteLength > BACKUP_MAX_BYTES) return null;
  return { op: 'backup', slot, part, data };
}

export class StoreLogParts {
  readonly #kv: KV | undefined;
  /** Per device: the slots it fills (read from the bucket once) and the tail of its queue. */
  readonly #slots = new Map<string, Set<string>>();
  readonly #queues = new Map<string, Promise<void>>();

  constructor(options: { readonly storeLogs?: KV }) {
    this.#kv = options.storeLogs;
  }

  /** Stores one part after the device's earlier ones. Rejects when it cannot (the gateway logs it). */
  store(device: string, slot: string, part: string, data: Uint8Array): Promise<void> {
    return this.after(device, () => this.#store(device, slot, part, data));
  }

  /**
   * Runs `work` after everything queued for `device` (the gateway queues a device's identity backups
   * here too, so one that names a chain's tip lands after the parts sent before it).
   */
  after(device: string, work: () => Promise<void>): Promise<void> {
    const next = (this.#queues.get(device) ?? Promise.resolve()).then(work);
    this.#queues.set(device, next.catch(() => undefined));
    return next;
  }

  async #store(device: string, slot: string, part: string, data: Uint8Array): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined) return;
    let held = this.#slots.get(device);
    if (held === undefined) {
      held = new Set<string>();
      for await (const key of await kv.keys(`${device}.*.*`)) held.add(key.split('.')[1] ?? '');
      this.#slots.set(device, held);
    }
    if (!held.has(slot) && held.size >= BACKUP_SLOTS_PER_DEVICE) throw new Error(`device ${device} holds ${BACKUP_SLOTS_PER_DEVICE} store-log slots already: part dropped`);
    if (part === 'b000') {
      // A new base: the old chain goes (its base's other chunks and every delta).
      const old: string[] = [];
      for await (const key of await kv.keys(`${device}.${slot}.*`)) if (key !== `${device}.${slot}.b000`) old.push(key);
      for (const key of old) await kv.purge(key);
    }
    await kv.put(`${device}.${slot}.${part}`, data);
    held.add(slot);
  }
}
