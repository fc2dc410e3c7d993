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
