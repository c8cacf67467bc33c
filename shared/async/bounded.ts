/** Bounded concurrency, in one place: probe rounds, publishing desired states, writing bundles. */

/**
 * Calls `fn` on every item, at most `limit` at a time (at least one), and resolves when all are
 * done. The first rejection rejects the call; no new item is started after it, and the items already
 * running finish on their own.
 */
export async function forEachBounded<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        await fn(items[index] as T, index);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
