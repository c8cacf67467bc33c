import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The end-to-end suite over a private Tor network (`npm run test:e2e`) and the host-VM suite
    // (`npm run test:host`) run on their own.
    exclude: ['test/e2e/**', 'test/host/**', '**/node_modules/**'],
    // Integration tests start real processes; forks isolate them and stop with their workers.
    pool: 'forks',
    testTimeout: 30_000,
    // Concurrent tests (the crash test) start several agents each; more would starve two cores.
    maxConcurrency: 3,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
