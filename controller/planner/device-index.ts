/**
 * Fast candidate lookup for one attempt, so placing a group costs about what it places, not the
 * fleet size:
 * - shared groups draw from devices bucketed by free slots (most room first; within a bucket a
 *   group-specific starting offset spreads groups over different devices, deterministically);
 * - dedicated groups draw from the list of devices no group uses yet.
 * Callers still check every device they take with `rejectDevice`; the index only narrows the search.
 */
import type { Load, Model } from './model.ts';

/** An array with O(1) add and remove (swap with the last), remembering each member's position. */
class IndexedList {
  readonly items: number[] = [];
  private readonly pos: Int32Array;
  constructor(size: number) {
    this.pos = new Int32Array(size).fill(-1);
  }
  has(d: number): boolean {
    return (this.pos[d] ?? -1) !== -1;
  }
  add(d: number): void {
    if (this.has(d)) return;
    this.pos[d] = this.items.length;
    this.items.push(d);
  }
  remove(d: number): void {
    const at = this.pos[d] ?? -1;
    if (at === -1) return;
    const last = this.items.pop() ?? d;
    if (last !== d) {
      this.items[at] = last;
      this.pos[last] = at;
    }
    this.pos[d] = -1;
  }
}

export class DeviceIndex {
  private readonly buckets: IndexedList[] = [];
  private readonly bucketOf: Int32Array;
  private readonly empty: IndexedList;

  constructor(private readonly model: Model, private readonly load: Load) {
    const n = model.devices.length;
    this.bucketOf = new Int32Array(n).fill(-1);
    this.empty = new IndexedList(n);
    for (const dev of model.devices) if (dev.state === 'active') this.update(dev.index);
  }

  /** Re-files device `d` after its load changed. */
  update(d: number): void {
    const { load } = this;
    const shared = (load.owner[d] ?? -1) === -1 ? Math.max(0, load.slots[d] ?? 0) : -1;
    const old = this.bucketOf[d] ?? -1;
    if (old !== shared) {
      if (old !== -1) this.buckets[old]?.remove(d);
      if (shared > 0) {
        while (this.buckets.length <= shared) this.buckets.push(new IndexedList(this.model.devices.length));
        this.buckets[shared]?.add(d);
      }
      this.bucketOf[d] = shared > 0 ? shared : -1;
    }
    if ((load.groupsOn[d] ?? 0) === 0 && (load.slots[d] ?? 0) > 0) this.empty.add(d);
    else this.empty.remove(d);
  }

  /**
   * Up to `k` devices open to shared groups, most free slots first, each accepted by `accept`;
   * `offset` (a group's hash) picks where each bucket is entered.
   */
  roomiest(k: number, offset: number, accept: (d: number) => boolean, out: number[]): void {
    for (let s = this.buckets.length - 1; s > 0 && out.length < k; s--) {
      const items = this.buckets[s]?.items ?? [];
      const len = items.length;
      for (let i = 0; i < len && out.length < k; i++) {
        const d = items[(offset + i) % len] ?? -1;
        if (accept(d)) out.push(d);
      }
    }
  }

  /** Devices no group uses yet (what a dedicated group may claim). */
  emptyDevices(): readonly number[] {
    return this.empty.items;
  }
}
