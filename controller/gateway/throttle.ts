/**
 * Per-key rate limiting where the newest message wins: each key (a party and a kind of message) may
 * act `burst` times at once and then once every `everyMs`; what arrives meanwhile replaces the one
 * waiting, and the newest waiting message acts when the next turn comes. Actions of one key never
 * overlap (two status writes of one device cannot land out of order). A flood costs one buffer per
 * key and no work beyond the rate.
 */

export interface Rate {
  readonly burst: number;
  readonly everyMs: number;
}

/** The clock and timer a throttle uses (tests pass a fake). */
export interface ThrottleClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemClock: ThrottleClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => { clearTimeout(handle as NodeJS.Timeout); },
};

interface Slot<T> {
  tokens: number;
  refilledAt: number;
  pending: { readonly value: T } | null;
  busy: boolean;
  timer: unknown;
}

export interface ThrottleOptions<T> {
  readonly rate: Rate;
  /** Runs one message of `key`. A rejection is passed to `onError`; the key goes on. */
  readonly act: (key: string, value: T) => Promise<void>;
  readonly onError: (key: string, err: unknown) => void;
  /** Called when a waiting message of `key` is replaced by a newer one (the older is dropped). */
  readonly onReplaced?: (key: string) => void;
  readonly clock?: ThrottleClock;
}

export class LatestWinsThrottle<T> {
  readonly #slots = new Map<string, Slot<T>>();
  readonly #running = new Set<Promise<void>>();
  readonly #options: ThrottleOptions<T>;
  readonly #clock: ThrottleClock;
  #stopped = false;

  constructor(options: ThrottleOptions<T>) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Queues `value` for `key`, replacing a message of `key` still waiting. Ignored after stop(). */
  offer(key: string, value: T): void {
    if (this.#stopped) return;
    let slot = this.#slots.get(key);
    if (slot === undefined) {
      slot = { tokens: this.#options.rate.burst, refilledAt: this.#clock.now(), pending: null, busy: false, timer: null };
      this.#slots.set(key, slot);
    }
    if (slot.pending !== null) this.#options.onReplaced?.(key);
    slot.pending = { value };
    this.#pump(key, slot);
  }

  /** Drops what waits, cancels the timers, and resolves once the running actions have finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const slot of this.#slots.values()) {
      if (slot.timer !== null) this.#clock.clearTimeout(slot.timer);
      slot.timer = null;
      slot.pending = null;
    }
    await Promise.all(this.#running);
  }

  #pump(key: string, slot: Slot<T>): void {
    if (this.#stopped || slot.busy || slot.pending === null) return;
    this.#refill(slot);
    if (slot.tokens < 1) {
      if (slot.timer === null) {
        const wait = Math.max(0, slot.refilledAt + this.#options.rate.everyMs - this.#clock.now());
        slot.timer = this.#clock.setTimeout(() => {
          slot.timer = null;
          this.#pump(key, slot);
        }, wait);
      }
      return;
    }
    slot.tokens -= 1;
    const { value } = slot.pending;
    slot.pending = null;
    slot.busy = true;
    const run = this.#options.act(key, value)
      .catch((err: unknown) => { this.#options.onError(key, err); })
      .finally(() => {
        slot.busy = false;
        this.#running.delete(run);
        this.#pump(key, slot);
      });
    this.#running.add(run);
  }

  #refill(slot: Slot<T>): void {
    const { burst, everyMs } = this.#options.rate;
    const earned = Math.floor((this.#clock.now() - slot.refilledAt) / everyMs);
    if (earned <= 0) return;
    slot.tokens = Math.min(burst, slot.tokens + earned);
    slot.refilledAt += earned * everyMs;
  }
}
