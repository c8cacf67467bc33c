/** Bounded concurrency for probe rounds (the controller's `probe`, the agent's self-probe). */

/**
 * Calls `fn` on every item, at most `limit` at a time (at least one); resolves when all are done.
 * `fn` should not throw: the first rejection rejects the whole call, and the other workers still
 * finish the items they hold.
 */
export async function mapBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
