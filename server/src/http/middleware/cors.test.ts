import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../types.ts';
import { corsHeaders } from './cors.ts';

// corsHeaders sets hono/cors's headers on the answer after the handler instead of before: every
// kind of answer (JSON, a thrown error, an early answer from a later middleware, a raw Response)
// must carry the same CORS headers as with hono/cors, and a preflight is hono/cors's own.

function app(origin: '*' | string[]) {
  const a = new Hono<AppEnv>();
  a.use(
    '/v1/*',
    corsHeaders({
      origin,
      allowMethods: ['GET', 'POST', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Idempotency-Key'],
      exposeHeaders: ['X-Request-Id', 'RateLimit'],
      maxAge: 600,
    }),
  );
  a.use('/v1/limited', async (c) => Promise.resolve(c.json({ error: 'rate_limited' }, 429)));
  a.get('/v1/json', (c) => {
    c.header('X-Request-Id', 'r1');
    return c.json({ ok: true }, 202);
  });
  a.get('/v1/raw', () => new Response('raw', { status: 200 }));
  a.get('/v1/throws', () => {
    throw new Error('boom');
  });
  a.onError((_e, c) => c.json({ error: 'internal' }, 500));
  return a;
}

describe('corsHeaders', () => {
  it('puts the allowed origin and exposed headers on every kind of answer (any origin)', async () => {
    const a = app('*');
    for (const [path, status] of [
      ['/v1/json', 202],
      ['/v1/raw', 200],
      ['/v1/throws', 500],
      ['/v1/limited', 429],
    ] as const) {
      const res = await a.request(path, { headers: { Origin: 'https://outlook.office.com' } });
      expect(res.status).toBe(status);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('access-control-expose-headers')).toBe('X-Request-Id,RateLimit');
      expect(res.headers.get('vary')).toBeNull();
    }
    const json = await a.request('/v1/json');
    expect(json.headers.get('x-request-id')).toBe('r1');
    expect(await json.json()).toEqual({ ok: true });
  });

  it('echoes a listed origin only, and varies on Origin', async () => {
    const a = app(['https://outlook.office.com']);
    const listed = await a.request('/v1/json', { headers: { Origin: 'https://outlook.office.com' } });
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://outlook.office.com');
    expect(listed.headers.get('vary')).toBe('Origin');
    const other = await a.request('/v1/json', { headers: { Origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.headers.get('vary')).toBe('Origin');
  });

  it('answers a preflight as hono/cors does', async () => {
    const res = await app('*').request('/v1/json', {
      method: 'OPTIONS',
      headers: { Origin: 'https://outlook.office.com', 'Access-Control-Request-Method': 'POST' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-methods')).toBe('GET,POST,OPTIONS');
    expect(res.headers.get('access-control-allow-headers')).toBe('Authorization,Idempotency-Key');
    expect(res.headers.get('access-control-max-age')).toBe('600');
  });
});
