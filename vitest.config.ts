import { defineConfig } from 'vitest/config';

// Kernel and nspawn tests share the machine's network stack and PostgreSQL:
// files run one at a time, tests inside a file in order.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // nspawn lock files a SIGKILLed container left (test/support/nspawn-locks.ts)
    globalSetup: ['test/support/nspawn-locks.ts'],
  },
});
