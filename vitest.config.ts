import { defineConfig } from 'vitest/config';

// One runner for every workspace. Integration suites (*.int.test.ts) need real
// PostgreSQL, SMTP peers, gpg or Chromium; they run in the same `npm test`.
export default defineConfig({
  test: {
    include: ['{shared,server,addin-outlook,addon-gmail,test}/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
