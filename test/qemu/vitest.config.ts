import { defineConfig } from 'vitest/config';

// Guest-only suites (run by test/qemu/run.sh inside the VM): named *.kernel.ts
// so that the host's `vitest run` (include **/*.test.ts) never picks them up.
// Caches go to a writable dir: the checkout is a read-only share in the guest.
export default defineConfig({
  cacheDir: process.env.FREIGHT_VITEST_CACHE ?? 'node_modules/.vite-kernel',
  test: {
    include: ['test/qemu/**/*.kernel.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
