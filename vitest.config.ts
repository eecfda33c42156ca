import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // real-device tests run through `npm run test:real` (they boot a QEMU guest)
    exclude: ['test/real/**', 'node_modules/**'],
    testTimeout: 60_000,
    pool: 'forks',
  },
});
