/**
 * Runs the planned identity probes through a SOCKS5 proxy (the controller's tor), a bounded number
 * at a time, each with its own deadline. The shell around `aggregate.ts`: it does the network I/O
 * and nothing else.
 */
import { forEachBounded } from '#shared/async/bounded.ts';
import { probeThroughSocks, type SocksAddress, type SocksProbe } from '#shared/probes/over-socks.ts';
import { ONION_PORT } from '#shared/schema/desired-state.ts';
import { probeIndices, shortOnion, type ProbePlan } from './aggregate.ts';
import type { ProbeOutcome, ProbeTarget } from './model.ts';

/** Probes at once, by default: enough to hide Tor's circuit latency, few enough for a Pi's tor. */
export const DEFAULT_CONCURRENCY = 8;

export interface RunnerOptions {
  readonly socks: SocksAddress;
  /** Deadline per instance (0xF0 retries included). */
  readonly timeoutMs: number;
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  /** Where to connect for a target; default: its onion on the kind's onion port (SMP 5223, XFTP 443). */
  readonly address?: (target: ProbeTarget & { readonly onion: string }) => { readonly host: string; readonly port: number };
  /** Wait between attempts after Tor's 0xF0 (descriptor not found). */
  readonly retryDelayMs?: number;
  /** The probe itself (tests may count calls); default {@link probeThroughSocks}. */
  readonly probe?: typeof probeThroughSocks;
}

/**
 * Probes every entry of `plan` that has an onion and an expected fingerprint. Returns one outcome
 * per plan entry, `null` for those not probed (or not started before `signal` aborted). Never
 * throws for a probe's failure; no error text names an onion in full.
 */
export async function runProbes(plan: ProbePlan, options: RunnerOptions): Promise<(ProbeOutcome | null)[]> {
  const outcomes: (ProbeOutcome | null)[] = plan.entries.map(() => null);
  const probe = options.probe ?? probeThroughSocks;
  const address = options.address ?? ((t) => ({ host: t.onion, port: ONION_PORT[t.kind] }));
  await forEachBounded(probeIndices(plan), options.concurrency ?? DEFAULT_CONCURRENCY, async (index) => {
    if (options.signal?.aborted === true) return;
    const entry = plan.entries[index];
    if (entry?.target.onion == null || entry.expected === null) return;
    const target = { ...entry.target, onion: entry.target.onion };
    const found = await probe({
      socks: options.socks,
      target: address(target),
      kind: target.kind,
      fingerprint: entry.expected,
      timeoutMs: options.timeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.retryDelayMs === undefined ? {} : { retryDelayMs: options.retryDelayMs }),
    });
    outcomes[index] = outcome(found, target.onion);
  });
  return outcomes;
}

function outcome(found: SocksProbe, onion: string): ProbeOutcome {
  const scrub = (text: string | null) => (text === null ? null : text.split(onion).join(shortOnion(onion)));
  return {
    reachable: found.reachable,
    identityOk: found.identityOk,
    presentedFingerprint: found.presentedFingerprint,
    chainSigned: found.chainSigned,
    helloOk: found.helloOk,
    latencyMs: found.latencyMs,
    error: scrub(found.error),
    socksFailure: found.socksFailure,
  };
}
