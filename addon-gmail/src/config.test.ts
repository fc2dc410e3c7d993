import { afterEach, describe, expect, it } from 'vitest';
import { createFakeEnv, installGlobals, json, textOf, treeOf } from '../fakes/index.ts';
import { FALLBACK_SERVER_URL, validateBaseUrl } from './config.ts';
import { makeHandlers } from './handlers.ts';
import { caseloadFixture } from '../fakes/fixtures.ts';
import type { AddonEvent } from './events.ts';

let uninstall: (() => void) | undefined;
afterEach(() => uninstall?.());

const handlers = makeHandlers({
  scanner: () => {
    throw new Error('not used');
  },
});
const event = {
  commonEventObject: { platform: 'WEB', hostApp: 'GMAIL', parameters: {}, formInputs: {} },
} as unknown as AddonEvent;

describe('server address', () => {
  it('uses the ATTUNE_SERVER_URL script property, trailing slash removed', () => {
    const env = createFakeEnv({
      transport: () => json(200, caseloadFixture(1, 10, 1)),
      scriptProperties: { ATTUNE_SERVER_URL: 'https://attune.lakeside.org/' },
    });
    uninstall = installGlobals(env);
    handlers.onHomepage(event);
    expect(env.UrlFetchApp.requests[0]?.url).toBe(
      'https://attune.lakeside.org/v1/caseload?page=1&pageSize=10',
    );
  });

  it('falls back to the documented default without the property', () => {
    const env = createFakeEnv({
      transport: () => json(200, caseloadFixture(1, 10, 1)),
      scriptProperties: {},
    });
    uninstall = installGlobals(env);
    handlers.onHomepage(event);
    expect(env.UrlFetchApp.requests[0]?.url.startsWith(`${FALLBACK_SERVER_URL}/v1/`)).toBe(true);
  });

  it('refuses plain http to a remote host (the ID token would travel in clear) and makes no request', () => {
    const env = createFakeEnv({
      transport: () => json(200, {}),
      scriptProperties: { ATTUNE_SERVER_URL: 'http://attune.lakeside.org' },
    });
    uninstall = installGlobals(env);
    const text = textOf(treeOf(handlers.onHomepage(event)[0]));
    expect(text).toContain('Attune is not configured');
    expect(env.UrlFetchApp.requests).toHaveLength(0);
  });

  it('accepts https and loopback http only', () => {
    expect(validateBaseUrl('https://a.org/base')).toEqual({ ok: true, baseUrl: 'https://a.org/base' });
    expect(validateBaseUrl('http://127.0.0.1:8080')).toEqual({ ok: true, baseUrl: 'http://127.0.0.1:8080' });
    expect(validateBaseUrl('http://10.0.0.5').ok).toBe(false);
    expect(validateBaseUrl('javascript:alert(1)').ok).toBe(false);
    expect(validateBaseUrl('https://a.org/?x=1').ok).toBe(false);
  });
});
