import { defineConfig } from 'vitest/config';

/**
 * `npm run test:faults`: process kills, Redis and Postgres outages and the fuzz, against private
 * Redis and Postgres instances the suite starts and stops itself (never the machine's own).
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 1_200_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
