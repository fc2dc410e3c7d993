// One place to assemble the Apps Script fakes a test (or the vm-loaded bundle) runs against.

import { createCardService } from './card-service.ts';
import {
  createScriptApp,
  createGmailApp,
  createPropertiesService,
  createUtilities,
  type FakeMessageSpec,
  type THROWS,
} from './services.ts';
import { createUrlFetchApp, type Transport } from './url-fetch.ts';

export * from './card-service.ts';
export * from './services.ts';
export * from './url-fetch.ts';

export interface FakeEnvOptions {
  transport: Transport;
  token?: string | null | typeof THROWS;
  messages?: readonly FakeMessageSpec[];
  scriptProperties?: Record<string, string>;
  whitelist?: readonly string[];
  /** The project's oauthScopes (e.g. manifest(...).oauthScopes); undefined grants every scope. */
  scopes?: readonly string[];
}

export const TEST_SERVER = 'https://attune.test';
export const TEST_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.test.sig';

export function createFakeEnv(opts: FakeEnvOptions) {
  return {
    CardService: createCardService(),
    UrlFetchApp: createUrlFetchApp(opts.transport, opts.whitelist ? { whitelist: opts.whitelist } : {}),
    ScriptApp: createScriptApp({ token: opts.token === undefined ? TEST_TOKEN : opts.token }),
    GmailApp: createGmailApp(opts.messages ?? [], opts.scopes ? { scopes: opts.scopes } : {}),
    PropertiesService: createPropertiesService(opts.scriptProperties ?? { ATTUNE_SERVER_URL: TEST_SERVER }),
    Utilities: createUtilities(),
  };
}

export type FakeEnv = ReturnType<typeof createFakeEnv>;

const NAMES = [
  'CardService',
  'UrlFetchApp',
  'ScriptApp',
  'GmailApp',
  'PropertiesService',
  'Utilities',
] as const;

/** Install as globals for code imported directly by vitest; returns the uninstaller. */
export function installGlobals(env: FakeEnv): () => void {
  const g = globalThis as Record<string, unknown>;
  for (const n of NAMES) g[n] = env[n];
  return () => {
    for (const n of NAMES) delete g[n];
  };
}
