import { describe, expect, it } from 'vitest';
import { createApiClient } from '../core/api-client.ts';
import { IDEMPOTENCY_KEY_RULE, newIdempotencyKey } from './idempotency.ts';

describe('compose idempotency key', () => {
  it('is accepted by the server rule and differs between sessions', () => {
    const a = newIdempotencyKey();
    const b = newIdempotencyKey();
    expect(a).toMatch(IDEMPOTENCY_KEY_RULE);
    expect(a).not.toBe(b);
  });

  it('falls back to getRandomValues when randomUUID is missing (no secure context)', () => {
    const key = newIdempotencyKey({
      getRandomValues: <T extends ArrayBufferView | null>(x: T) =>
        crypto.getRandomValues(x as Uint8Array) as unknown as T,
    });
    expect(key).toMatch(/^outlook-compose-[0-9a-f]{32}$/);
  });

  it('goes out as the Idempotency-Key header of POST /v1/messages, and only there', async () => {
    const seen: { url: string; headers: Record<string, string> }[] = [];
    const api = createApiClient({
      baseUrl: 'https://attune.test',
      getToken: () => Promise.resolve({ ok: true, token: 't' }),
      fetch: (input, init) => {
        seen.push({
          url: input instanceof Request ? input.url : input.toString(),
          headers: { ...(init?.headers as Record<string, string>) },
        });
        return Promise.resolve(new Response('{}', { status: 500 }));
      },
    });
    await api.sendMessage(
      { to: ['a@b.example'], subject: 's', text: 't' },
      { idempotencyKey: 'outlook-compose-1' },
    );
    await api.sendMessage({ to: ['a@b.example'], subject: 's', text: 't' });
    await api.getPolicy();
    expect(seen.map((s) => s.headers['idempotency-key'])).toEqual([
      'outlook-compose-1',
      undefined,
      undefined,
    ]);
  });
});
