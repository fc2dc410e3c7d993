import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../types.ts';
import { requestContext } from './request-context.ts';

// The client address feeds per-address rate limits and the audit trail's "where". Behind our
// proxy (TRUST_PROXY=true) the client controls everything in X-Forwarded-For except the entry
// the proxy appends, so only that right-most entry may be used.

function app(trustProxy: boolean) {
  const a = new Hono<AppEnv>();
  a.use('*', requestContext({ trustProxy }));
  a.get('/ip', (c) => c.text(c.get('ip')));
  return a;
}

async function ipFor(trustProxy: boolean, xff?: string): Promise<string> {
  const res = await app(trustProxy).request('/ip', {
    headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
  });
  return res.text();
}

describe('requestContext client address', () => {
  it('uses the right-most X-Forwarded-For entry, the one the proxy appended', async () => {
    expect(await ipFor(true, '10.9.1.1, 203.0.113.8')).toBe('203.0.113.8');
    expect(await ipFor(true, '10.9.1.1,10.9.2.2,  203.0.113.8 ')).toBe('203.0.113.8');
  });

  it('gives every request from one address the same client address whatever the client prepends', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) seen.add(await ipFor(true, `10.9.${i}.1, 203.0.113.8`));
    expect([...seen]).toEqual(['203.0.113.8']);
  });

  it('takes a single entry as is', async () => {
    expect(await ipFor(true, '2001:db8::1')).toBe('2001:db8::1');
  });

  it('ignores a right-most entry that is not an address', async () => {
    expect(await ipFor(true, '203.0.113.8, unknown')).toBe('local');
  });

  it('ignores X-Forwarded-For when TRUST_PROXY is off', async () => {
    expect(await ipFor(false, '203.0.113.8')).toBe('local');
  });
});
