/* eslint-disable @typescript-eslint/require-await -- the fakes implement async interfaces (fetch, token providers) */
import { DEFAULT_POLICY } from '@attune/shared/policy';
import { describe, expect, it } from 'vitest';
import { createApiClient } from './api-client.ts';
import { alerts, MAX_ALERT_CHARS } from './alerts.ts';
import { cachedTokenProvider, chainTokenProviders } from './auth.ts';
import type { TokenResult } from './auth.ts';
import { base64FromUtf8 } from './base64.ts';
import { baseUrlFromLocation } from './config.ts';
import { describeTypes } from './evaluate.ts';
import { createPolicySource } from './policy-source.ts';

const token = async (): Promise<TokenResult> => ({ ok: true, token: 't' });
const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('baseUrlFromLocation', () => {
  it('takes the server from the page address, keeping a path prefix before /addin/', () => {
    expect(baseUrlFromLocation('https://a.example.org/addin/read.html?x=1', 'https://dev')).toBe(
      'https://a.example.org',
    );
    expect(baseUrlFromLocation('https://a.example.org/attune/addin/compose.html', 'https://dev')).toBe(
      'https://a.example.org/attune',
    );
  });
  it('falls back to the build-time URL when there is no usable page address', () => {
    expect(baseUrlFromLocation(undefined, 'https://dev')).toBe('https://dev');
    expect(baseUrlFromLocation('about:blank', 'https://dev')).toBe('https://dev');
    expect(baseUrlFromLocation('https://x.example.org/other.html', 'https://dev')).toBe('https://dev');
  });
});

describe('token providers', () => {
  it('takes the first token and reports the most telling failure', async () => {
    const na = async (): Promise<TokenResult> => ({ ok: false, reason: 'not_available', message: 'n/a' });
    const refused = async (): Promise<TokenResult> => ({
      ok: false,
      reason: 'sign_in_failed',
      message: 'refused',
    });
    expect(await chainTokenProviders([na, token])()).toEqual({ ok: true, token: 't' });
    expect(await chainTokenProviders([refused, na])()).toMatchObject({ reason: 'sign_in_failed' });
    expect(await chainTokenProviders([na])()).toMatchObject({ reason: 'not_available' });
    const throws = async (): Promise<TokenResult> => Promise.reject(new Error('boom'));
    expect(await chainTokenProviders([throws])()).toMatchObject({ ok: false, reason: 'sign_in_failed' });
  });

  it('caches a token in memory but never a failure', async () => {
    let calls = 0;
    let fail = true;
    const p = cachedTokenProvider(async () => {
      calls++;
      return fail ? { ok: false, reason: 'sign_in_failed', message: 'x' } : { ok: true, token: `t${calls}` };
    }, 60_000);
    expect((await p()).ok).toBe(false);
    fail = false;
    expect(await p()).toEqual({ ok: true, token: 't2' });
    expect(await p()).toEqual({ ok: true, token: 't2' });
    expect(calls).toBe(2);
  });
});

describe('api client', () => {
  const client = (fetchImpl: typeof fetch, timeoutMs = 1000) =>
    createApiClient({ baseUrl: 'https://s', getToken: token, fetch: fetchImpl, timeoutMs });

  it('sends the bearer token and checks the answer against the contract', async () => {
    let seen: Headers | undefined;
    const r = await client(async (_u, init) => {
      seen = new Headers(init?.headers);
      return json(200, { ...DEFAULT_POLICY, outlookAction: 'automatic' });
    }).getPolicy();
    expect(seen?.get('authorization')).toBe('Bearer t');
    expect(r).toMatchObject({ ok: true, value: { outlookAction: 'automatic' } });
  });

  it('maps failures to reasons: 401 sign-in, 4xx rejected with the code, 5xx, bad body, network, timeout', async () => {
    const err = (code: string) => ({ error: { code, message: `m ${code}` } });
    expect(await client(async () => json(401, err('unauthenticated'))).getPolicy()).toMatchObject({
      ok: false,
      reason: 'sign_in_failed',
    });
    expect(await client(async () => json(413, err('payload_too_large'))).getPolicy()).toMatchObject({
      reason: 'rejected',
      code: 'payload_too_large',
      status: 413,
    });
    expect(await client(async () => json(503, err('internal_error'))).getPolicy()).toMatchObject({
      reason: 'server_error',
    });
    expect(await client(async () => json(200, { mode: 'nonsense' })).getPolicy()).toMatchObject({
      reason: 'invalid_response',
    });
    expect(await client(async () => Promise.reject(new TypeError('fetch failed'))).getPolicy()).toMatchObject(
      { reason: 'unreachable' },
    );
    const hang = (() => new Promise<Response>(() => undefined)) as typeof fetch;
    expect(await client(hang, 50).getPolicy()).toMatchObject({ reason: 'unreachable' });
  });

  it('looks a patient up with the address in the POST body, never in the URL', async () => {
    let url = '';
    let init: RequestInit | undefined;
    await client(async (u, i) => {
      url = u instanceof Request ? u.url : u.toString();
      init = i;
      return json(404, { error: { code: 'patient_not_found', message: 'no' } });
    }).getEngagement('a/b?c@example.org');
    expect(url).toBe('https://s/v1/engagement/lookup');
    expect(url).not.toContain('example.org');
    expect(init?.method).toBe('POST');
    expect(JSON.parse(init?.body as string)).toEqual({ email: 'a/b?c@example.org' });
  });
});

describe('policy source', () => {
  it('uses the server policy, then a stale cached one, then the default with the reason', async () => {
    let now = 0;
    let answer: 'ok' | 'down' = 'ok';
    const api = {
      getPolicy: async () =>
        answer === 'ok'
          ? ({ ok: true, value: { ...DEFAULT_POLICY, outlookAction: 'automatic' } } as const)
          : ({ ok: false, reason: 'unreachable', message: 'down' } as const),
    };
    const src = createPolicySource(api, 1000, () => now);
    expect((await src.get()).source).toBe('server');
    now = 5000;
    answer = 'down';
    expect(await src.get()).toMatchObject({ source: 'cache', policy: { outlookAction: 'automatic' } });
    const fresh = createPolicySource(api, 1000, () => now);
    expect(await fresh.get()).toMatchObject({
      source: 'default',
      policy: DEFAULT_POLICY,
      failure: { reason: 'unreachable' },
    });
  });
});

describe('alert texts', () => {
  it('stay within 500 characters even with every kind of PHI', () => {
    const scan = {
      fields: [{ field: 'subject' as const, findings: [] }],
      types: ['NAME', 'DATE', 'PHONE', 'SSN', 'MRN', 'DIAGNOSIS', 'MEDICATION', 'CRISIS'] as const,
      hasIdentifier: true,
      hasHealth: true,
      hasCrisis: true,
    };
    const s = { ...scan, types: [...scan.types] };
    for (const t of [
      alerts.review(s),
      alerts.warn(s),
      alerts.unreachable(s),
      alerts.unconfirmed(s, true),
      alerts.unconfirmed(s, false),
      alerts.signIn(s),
      alerts.blocked(s.types),
      alerts.rejected('x'.repeat(600)),
      alerts.rewriteFailed('send_again'),
      alerts.rewriteFailed('discard'),
      alerts.rewriteFailed('pane'),
    ]) {
      expect(t.markdown.length).toBeLessThanOrEqual(MAX_ALERT_CHARS);
      expect(t.plain.length).toBeLessThanOrEqual(MAX_ALERT_CHARS);
    }
    expect(describeTypes(s.types)).toBe(
      'a name, a date, a phone number, a Social Security number and 4 more kinds',
    );
  });
});

describe('base64FromUtf8', () => {
  it('matches Node for ASCII, accents, CJK and emoji, at every padding length', () => {
    for (const s of ['', 'a', 'ab', 'abc', 'Zoë', '漢字', 'ok 👍', 'Subject: x\r\n\r\nbody']) {
      expect(base64FromUtf8(s)).toBe(Buffer.from(s, 'utf8').toString('base64'));
    }
  });
});
