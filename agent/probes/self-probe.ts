/**
 * The agent's self-probe: each of its instances' onions, through the device's own tor, with the
 * TLS identity probe — what a member's client would meet, seen from the device. It runs in the
 * background (never blocking reconciliation or a status report), starts at most one round per
 * interval (the heartbeat), and keeps the last result per instance for the status to carry.
 */
import { InvalidInputError } from '#shared/errors.ts';
import { forEachBounded } from '#shared/async/bounded.ts';
import { probeThroughSocks, parseSocksAddress, type SocksAddress } from '#shared/probes/over-socks.ts';
import type { OnionProbeResult } from '#shared/schema/status.ts';
import type { ResolvedConfig } from '../config.ts';

/** One instance to probe: its onion and what it must prove. */
export interface SelfProbeTarget {
  readonly id: string;
  readonly kind: 'smp' | 'xftp';
  /** `<56>.onion`. A secret: never logged. */
  readonly onion: string;
  /** The onion virtual port (SMP 5223, XFTP 443). */
  readonly onionPort: number;
  /** The instance's own fingerprint (its `fingerprint` file). */
  readonly fingerprint: string;
}

export interface SelfProbeOptions {
  readonly socks: SocksAddress;
  /** At most one round starts per interval (the heartbeat). */
  readonly intervalMs: number;
  /** Deadline per instance. Default 60 s: a fresh onion takes a while to publish its descriptor. */
  readonly timeoutMs?: number;
  /** Probes at once. Default 4: the device's tor also carries the servers' own traffic. */
  readonly concurrency?: number;
  /** Where to connect; default the onion and its onion port. Tests point it at an IP. */
  readonly address?: (target: SelfProbeTarget) => { readonly host: string; readonly port: number };
  readonly retryDelayMs?: number;
  /** The clock (ms). Default `Date.now`. */
  readonly now?: () => number;
}

/** True when the config turns the self-probe on: `tor.selfProbe`, else on for a real host only. */
export function selfProbeEnabled(config: ResolvedConfig): boolean {
  return config.tor.selfProbe ?? config.system === 'host';
}

/**
 * A {@link SelfProbe} for `config` when it is enabled, else `null`.
 *
 * @throws {InvalidInputError} when `tor.socks` has a port beyond 65535.
 */
export function selfProbeFor(config: ResolvedConfig): SelfProbe | null {
  if (!selfProbeEnabled(config)) return null;
  const socks = parseSocksAddress(config.tor.socks);
  if (socks === null) throw new InvalidInputError([{ source: 'agent config', path: 'tor.socks', message: 'expected HOST:PORT with a port 1-65535' }]);
  return new SelfProbe({ socks, intervalMs: config.heartbeatSeconds * 1000 });
}

/** See the module comment. A resource: {@link SelfProbe.close} ends a running round. */
export class SelfProbe {
  readonly #options: SelfProbeOptions;
  readonly #abort = new AbortController();
  /** Last result per instance, with the onion and fingerprint it was made for. */
  readonly #cache = new Map<string, { readonly onion: string; readonly fingerprint: string; readonly result: OnionProbeResult }>();
  #round: Promise<void> | null = null;
  #lastStart = Number.NEGATIVE_INFINITY;
  #rounds = 0;

  constructor(options: SelfProbeOptions) {
    this.#options = options;
  }

  /** Rounds started so far. */
  get rounds(): number {
    return this.#rounds;
  }

  /**
   * Starts a round over `targets` in the background, unless one is running, one started less
   * than an interval ago, or the probe is closed. Forgets instances no longer listed. Returns
   * whether a round started; never throws, never waits.
   */
  kick(targets: readonly SelfProbeTarget[]): boolean {
    const listed = new Set(targets.map((t) => t.id));
    for (const id of this.#cache.keys()) if (!listed.has(id)) this.#cache.delete(id);
    const now = (this.#options.now ?? Date.now)();
    // 0.9: a heartbeat timer that fires a little early must not skip a whole round.
    if (this.#abort.signal.aborted || this.#round !== null || now - this.#lastStart < this.#options.intervalMs * 0.9 || targets.length === 0) return false;
    this.#lastStart = now;
    this.#rounds++;
    this.#round = this.#run([...targets]).finally(() => { this.#round = null; });
    return true;
  }

  /**
   * The last result for this instance, if it was made for the same onion and fingerprint (a
   * re-created instance does not inherit its predecessor's result); `null` otherwise.
   */
  result(target: Pick<SelfProbeTarget, 'id' | 'onion' | 'fingerprint'>): OnionProbeResult | null {
    const cached = this.#cache.get(target.id);
    return cached !== undefined && cached.onion === target.onion && cached.fingerprint === target.fingerprint ? cached.result : null;
  }

  /** Resolves when no round is running (tests wait on this instead of sleeping). */
  async settled(): Promise<void> {
    await this.#round;
  }

  /** Ends a running round (its probes return at once) and starts no more. Idempotent. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#round;
  }

  #closed(): boolean {
    return this.#abort.signal.aborted;
  }

  async #run(targets: SelfProbeTarget[]): Promise<void> {
    const o = this.#options;
    await forEachBounded(targets, o.concurrency ?? 4, async (t) => {
      if (this.#closed()) return;
      const found = await probeThroughSocks({
        socks: o.socks,
        target: o.address?.(t) ?? { host: t.onion, port: t.onionPort },
        kind: t.kind,
        fingerprint: t.fingerprint,
        timeoutMs: o.timeoutMs ?? 60_000,
        signal: this.#abort.signal,
        ...(o.retryDelayMs === undefined ? {} : { retryDelayMs: o.retryDelayMs }),
      });
      if (this.#closed()) return; // a result that arrives after close is not kept
      const error = found.error === null ? null : found.error.split(t.onion).join('<onion>');
      this.#cache.set(t.id, {
        onion: t.onion,
        fingerprint: t.fingerprint,
        result: {
          reachable: found.reachable, identityOk: found.identityOk, helloOk: found.helloOk, latencyMs: found.latencyMs,
          error, socksFailure: found.socksFailure, checkedAt: new Date((o.now ?? Date.now)()).toISOString(),
        },
      });
    });
  }
}
