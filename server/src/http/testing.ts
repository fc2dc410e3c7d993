// Test support for the HTTP layer: a real app on a real store (SQLite or PostgreSQL), with two
// practices, so tenant isolation can be tested through the public surface (app.request).
import { Writable } from 'node:stream';
import { testConfig, type Config } from '../config.ts';
import { generateMasterKey, parseMasterKey } from '../crypto/index.ts';
import { createAuthenticator, loadDevIssuer, type DevIssuer } from '../identity/index.ts';
import { createLogger, type Logger } from '../log.ts';
import { ensurePractice } from '../store/index.ts';
import { createTestStore, type TestStore } from '../store/testing.ts';
import type { Dialect } from '../store/index.ts';
import { createApp } from './app.ts';
import type { App, AppDeps } from './types.ts';

export interface TestApp {
  app: App;
  deps: AppDeps;
  store: TestStore;
  config: Config;
  devIssuer: DevIssuer;
  /** Practice A owns a.example.org, practice B owns b.example.org. */
  practiceA: string;
  practiceB: string;
  /** Every log line written so far (JSON text). */
  logs: string[];
  token(email: string, opts?: { admin?: boolean }): Promise<string>;
  cleanup(): Promise<void>;
}

export async function createTestApp(dialect: Dialect, env: Record<string, string> = {}): Promise<TestApp> {
  const store = await createTestStore(dialect);
  const config = testConfig(store.dataDir, { LOG_LEVEL: 'info', PRACTICE_DOMAINS: 'a.example.org', ...env });
  const logs: string[] = [];
  const logger: Logger = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(chunk.toString('utf8'));
        cb();
      },
    }),
  });
  const { practiceId: practiceA } = await ensurePractice(store.db, {
    name: 'Practice A',
    domains: ['a.example.org'],
  });
  const { practiceId: practiceB } = await ensurePractice(store.db, {
    name: 'Practice B',
    domains: ['b.example.org'],
  });
  const devIssuer = await loadDevIssuer({
    dataDir: store.dataDir,
    issuer: config.identity.dev.issuer,
    audience: config.identity.dev.audience,
    ttlSeconds: 600,
  });
  const authenticator = createAuthenticator({ config, store, devIssuer, logger });
  const mk = parseMasterKey(generateMasterKey());
  if (!mk.ok) throw new Error('generated master key did not parse');
  const deps: AppDeps = {
    config,
    store,
    logger,
    authenticator,
    services: { masterKey: mk.masterKey, practiceId: practiceA },
  };
  const app = createApp(deps);
  return {
    app,
    deps,
    store,
    config,
    devIssuer,
    practiceA,
    practiceB,
    logs,
    token: (email, opts = {}) => devIssuer.sign({ email, admin: opts.admin ?? false }),
    cleanup: () => store.cleanup(),
  };
}
