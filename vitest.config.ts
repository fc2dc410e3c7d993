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
    // Two files at a time. Vitest's default is one fewer than the cores, one on this 2-core CI
    // machine, where much of a file's time is spent waiting on gpg, SMTP peers, Chromium, child
    // processes and PostgreSQL; every file keeps to its own temporary folder, PostgreSQL schema and
    // ports, so two never meet.
    maxWorkers: 2,
  },
});
