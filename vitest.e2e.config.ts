import { defineConfig } from 'vitest/config';

/** `npm run test:e2e`: the end-to-end suite over a private Tor network on loopback (test/e2e). */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    pool: 'forks',
    // One Tor network at a time: each is ~10 tor processes on two cores.
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 300_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
