import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real processes; keep one fork per core so they don't starve each other.
    pool: 'forks',
    testTimeout: 30_000,
  },
});
