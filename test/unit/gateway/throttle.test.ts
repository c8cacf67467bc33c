/**
 * LatestWinsThrottle with a fake clock: a burst passes at once, then one per interval; what arrives
 * meanwhile is replaced by newer messages (the newest always acts); one key's actions never overlap;
 * keys do not share a budget; stop() drops what waits.
 */
import { describe, expect, it } from 'vitest';
import { LatestWinsThrottle, type ThrottleClock } from '../../../controller/gateway/throttle.ts';

class FakeClock implements ThrottleClock {
  t = 0;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 1;
  now(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void { this.#timers = this.#timers.filter((x) => x.id !== handle); }
  /** Moves time forward, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = this.#timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
      await flush();
    }
    this.t = end;
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

function setup(burst = 3, everyMs = 1000) {
  const clock = new FakeClock();
  const acted: string[] = [];
  const replaced: string[] = [];
  const throttle = new LatestWinsThrottle<string>({
    rate: { burst, everyMs }, clock,
    act: async (key, value) => { acted.push(`${key}:${value}`); await flush(); },
    onError: () => undefined,
    onReplaced: (key) => { replaced.push(key); },
  });
  return { clock, acted, replaced, throttle };
}

describe('LatestWinsThrottle', () => {
  it('lets a burst through, then keeps only the newest and acts on it when the next turn comes', async () => {
    const { clock, acted, replaced, throttle } = setup(3, 1000);
    for (let i = 1; i <= 10; i++) {
      throttle.offer('a', String(i));
      await flush();
    }
    expect(acted).toEqual(['a:1', 'a:2', 'a:3']);
    expect(replaced).toHaveLength(6); // 5..10 each replaced the one waiting
    await clock.advance(999);
    expect(acted).toHaveLength(3);
    await clock.advance(1);
    expect(acted).toEqual(['a:1', 'a:2', 'a:3', 'a:10']);
    await clock.advance(5000);
    expect(acted).toHaveLength(4);
  });

  it('never overlaps two actions of one key, and keys have budgets of their own', async () => {
    const clock = new FakeClock();
    let running = 0;
    let most = 0;
    const acted: string[] = [];
    let release: (() => void) | null = null;
    const throttle = new LatestWinsThrottle<string>({
      rate: { burst: 5, everyMs: 10 }, clock, onError: () => undefined,
      act: async (key, value) => {
        running++;
        most = Math.max(most, running);
        acted.push(`${key}:${value}`);
        if (key === 'slow') await new Promise<void>((resolve) => { release = resolve; });
        running--;
      },
    });
    throttle.offer('slow', '1');
    throttle.offer('slow', '2');
    throttle.offer('slow', '3');
    throttle.offer('b', 'x');
    await flush();
    expect(acted).toEqual(['slow:1', 'b:x']);
    (release as (() => void) | null)?.();
    await flush();
    await flush();
    expect(acted).toEqual(['slow:1', 'b:x', 'slow:3']);
    (release as (() => void) | null)?.();
    await throttle.stop();
    expect(most).toBe(2); // one of 'slow' and one of 'b', never two of 'slow'
  });

  it('refills up to the burst only, and stop() drops what waits', async () => {
    const { clock, acted, throttle } = setup(2, 100);
    await clock.advance(10_000);
    for (const v of ['1', '2', '3', '4']) {
      throttle.offer('k', v);
      await flush();
    }
    expect(acted).toEqual(['k:1', 'k:2']); // a long quiet time earned no more than the burst
    await throttle.stop();
    await clock.advance(1000);
    throttle.offer('k', '5');
    await flush();
    expect(acted).toEqual(['k:1', 'k:2']);
  });

  it('reports a failed action and goes on with the key', async () => {
    const clock = new FakeClock();
    const errors: string[] = [];
    const acted: string[] = [];
    const throttle = new LatestWinsThrottle<string>({
      rate: { burst: 5, everyMs: 10 }, clock,
      act: (_key, value) => (value === 'bad' ? Promise.reject(new Error('boom')) : Promise.resolve(void acted.push(value))),
      onError: (key, err) => { errors.push(`${key}: ${(err as Error).message}`); },
    });
    throttle.offer('k', 'bad');
    await flush();
    throttle.offer('k', 'good');
    await flush();
    expect(errors).toEqual(['k: boom']);
    expect(acted).toEqual(['good']);
  });
});
