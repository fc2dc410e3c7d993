// A tiny route table for the fake transport: "GET /v1/policy" → reply. Unknown routes get the
// server's 404 shape, so a test that calls something unexpected fails loudly on its assertions.

import { json, NetworkDown, type RecordedRequest, type Transport, type TransportReply } from './url-fetch.ts';

export type Route = TransportReply | ((req: RecordedRequest) => TransportReply);

export function router(base: string, routes: Record<string, Route>): Transport {
  return (req) => {
    if (!req.url.startsWith(base)) throw new NetworkDown();
    const pathAndQuery = req.url.slice(base.length);
    const key = `${req.method} ${pathAndQuery}`;
    const keyNoQuery = `${req.method} ${pathAndQuery.split('?')[0]}`;
    const route = routes[key] ?? routes[keyNoQuery];
    if (route === undefined) return json(404, { error: { code: 'not_found', message: 'No such route.' } });
    return typeof route === 'function' ? route(req) : route;
  };
}

export const serverDown: Transport = () => {
  throw new NetworkDown();
};

/**
 * POST /v1/messages with the server's Idempotency-Key rules (server/src/http/routes/messages.ts):
 * the same key and the same request answer the first message again (202); the same key with a
 * different request is 409 `conflict`; without a key every request creates a message.
 * `loseNext` answers lost after the commit: 'timeout' throws as UrlFetchApp does when the
 * connection fails or times out, a number answers that 5xx. The message stays created.
 */
export function messagesServer(reply: (n: number) => unknown) {
  const created: { id: number; key: string | undefined; payload: string }[] = [];
  const byKey = new Map<string, { payload: string; answer: unknown }>();
  const loseNext: ('timeout' | number)[] = [];
  const lose = (answer: unknown): TransportReply => {
    const lost = loseNext.shift();
    if (lost === undefined) return json(202, answer);
    if (lost === 'timeout') throw new NetworkDown();
    return json(lost, { error: { code: 'unavailable', message: 'Try again.' } });
  };
  const route = (req: RecordedRequest): TransportReply => {
    const key = req.headers['Idempotency-Key'];
    const payload = req.payload ?? '';
    const previous = key !== undefined ? byKey.get(key) : undefined;
    if (previous) {
      if (previous.payload !== payload)
        return json(409, {
          error: {
            code: 'conflict',
            message: 'This Idempotency-Key was already used for a different message.',
          },
        });
      return lose(previous.answer);
    }
    const answer = reply(created.length + 1);
    created.push({ id: created.length + 1, key, payload });
    if (key !== undefined) byKey.set(key, { payload, answer });
    return lose(answer);
  };
  return { route, created, loseNext };
}
