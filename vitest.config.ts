import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The fault suite starts its own servers and takes minutes: `npm run test:faults`.
    exclude: ['test/faults/**', '**/node_modules/**'],
    globalSetup: ['test/global-setup.ts'],
    // Test files share one database and truncate it between tests: run them one at a time.
    fileParallelism: false,
    testTimeout: 20_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});
