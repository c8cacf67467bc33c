/**
 * The tentative placement of one group during one attempt: per-device, per-operator,
 * per-location and per-jurisdiction counts in typed arrays sized once per attempt and reset
 * through a list of touched entries, so placing a group costs what it touches, not the fleet size.
 */
import { DeviceIndex } from './device-index.ts';
import { MEMORY_MB } from './tier-rules.ts';
import type { GroupInfo, Load, Model } from './model.ts';

export type Kind = 'smp' | 'xftp';

export class GroupWork {
  readonly smpOn: Int32Array;
  readonly xftpOn: Int32Array;
  readonly opCount: Int32Array;
  readonly locCount: Int32Array;
  readonly jurCount: Int32Array;
  /** Distinct operators, locations, jurisdictions holding the group's SMP. */
  operators = 0;
  locations = 0;
  jurisdictions = 0;
  private readonly touched: number[] = [];
  private readonly mark: Uint8Array;

  /** Candidate lookup for this attempt; kept current by {@link commit}. */
  readonly index: DeviceIndex;

  constructor(readonly model: Model, readonly load: Load) {
    const d = model.devices.length;
    this.index = new DeviceIndex(model, load);
    this.smpOn = new Int32Array(d);
    this.xftpOn = new Int32Array(d);
    this.mark = new Uint8Array(d);
    this.opCount = new Int32Array(model.operators.length);
    this.locCount = new Int32Array(model.locations.length);
    this.jurCount = new Int32Array(model.jurisdictions.length);
  }

  /** Forgets every tentative instance. */
  reset(): void {
    const { devices } = this.model;
    for (const d of this.touched) {
      const dev = devices[d];
      if (dev === undefined) continue;
      this.smpOn[d] = 0;
      this.xftpOn[d] = 0;
      this.mark[d] = 0;
      this.opCount[dev.operator] = 0;
      this.locCount[dev.location] = 0;
      this.jurCount[dev.jurisdiction] = 0;
    }
    this.touched.length = 0;
    this.operators = this.locations = this.jurisdictions = 0;
  }

  /** Instances of the group on device `d` so far. */
  usedOn(d: number): number {
    return (this.smpOn[d] ?? 0) + (this.xftpOn[d] ?? 0);
  }

  freeSlots(d: number): number {
    return (this.load.slots[d] ?? 0) - this.usedOn(d);
  }

  freeMemory(d: number): number {
    return (this.load.memory[d] ?? 0) - (this.smpOn[d] ?? 0) * MEMORY_MB.smp - (this.xftpOn[d] ?? 0) * MEMORY_MB.xftp;
  }

  /** How many more SMP instances device `d` could take, by slots and memory alone. */
  smpRoom(d: number): number {
    return Math.max(0, Math.min(this.freeSlots(d), Math.floor(this.freeMemory(d) / MEMORY_MB.smp)));
  }

  add(d: number, kind: Kind): void {
    this.touch(d);
    if (kind === 'xftp') {
      this.xftpOn[d] = (this.xftpOn[d] ?? 0) + 1;
      return;
    }
    const dev = this.model.devices[d];
    if (dev === undefined) return;
    this.smpOn[d] = (this.smpOn[d] ?? 0) + 1;
    if ((this.opCount[dev.operator] = (this.opCount[dev.operator] ?? 0) + 1) === 1) this.operators++;
    if ((this.locCount[dev.location] = (this.locCount[dev.location] ?? 0) + 1) === 1) this.locations++;
    if ((this.jurCount[dev.jurisdiction] = (this.jurCount[dev.jurisdiction] ?? 0) + 1) === 1) this.jurisdictions++;
  }

  remove(d: number, kind: Kind): void {
    if (kind === 'xftp') {
      this.xftpOn[d] = (this.xftpOn[d] ?? 0) - 1;
      return;
    }
    const dev = this.model.devices[d];
    if (dev === undefined) return;
    this.smpOn[d] = (this.smpOn[d] ?? 0) - 1;
    if ((this.opCount[dev.operator] = (this.opCount[dev.operator] ?? 0) - 1) === 0) this.operators--;
    if ((this.locCount[dev.location] = (this.locCount[dev.location] ?? 0) - 1) === 0) this.locations--;
    if ((this.jurCount[dev.jurisdiction] = (this.jurCount[dev.jurisdiction] ?? 0) - 1) === 0) this.jurisdictions--;
  }

  /** Writes the tentative placement into the attempt's load. */
  commit(g: GroupInfo): void {
    const { load } = this;
    for (const d of this.touched) {
      const smp = this.smpOn[d] ?? 0;
      const xftp = this.xftpOn[d] ?? 0;
      if (smp + xftp === 0) continue;
      load.slots[d] = (load.slots[d] ?? 0) - smp - xftp;
      load.memory[d] = (load.memory[d] ?? 0) - smp * MEMORY_MB.smp - xftp * MEMORY_MB.xftp;
      load.groupsOn[d] = (load.groupsOn[d] ?? 0) + 1;
      if (g.dedicated) load.owner[d] = g.index;
      this.index.update(d);
    }
  }

  private touch(d: number): void {
    if (this.mark[d] === 1) return;
    this.mark[d] = 1;
    this.touched.push(d);
  }
}
