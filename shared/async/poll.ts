/**
 * Waiting, in one place: a pause that an AbortSignal cuts short, and polling a condition until a
 * deadline. Everything that waits for a log line, a file, a pid or a peer uses these.
 */

/** Resolves after `ms`; rejects with `signal.reason` as soon as `signal` aborts (at once if it already has). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface PollOptions {
  /** How long to keep trying, from the call. */
  readonly timeoutMs: number;
  /** The pause between two checks. Default 50 ms. */
  readonly intervalMs?: number;
  /** Stops the polling: the call rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/**
 * Calls `check` until it returns something other than null, and resolves with that; resolves null
 * once `timeoutMs` has passed without it (the caller says what timed out, with its own error). A
 * check that throws ends the polling with its error. `check` always runs at least once, and once more
 * at the deadline.
 */
export async function pollUntil<T>(check: () => Promise<T | null> | T | null, options: PollOptions): Promise<T | null> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 50;
  for (;;) {
    options.signal?.throwIfAborted();
    const value = await check();
    if (value !== null) return value;
    const left = deadline - Date.now();
    if (left <= 0) return null;
    await sleep(Math.min(interval, left), options.signal);
  }
}
