import { defineConfig } from 'vitest/config';

/**
 * `npm run test:host`: the agent on a real Debian host under qemu (test/host; the harness is in
 * test/host-vm). One guest at a time, next to a private Tor network on loopback.
 */
export default defineConfig({
  test: {
    include: ['test/host/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 900_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
