// A small real HTTP server speaking the Attune API contract (what the add-in calls), on an
// ephemeral port. Requests are recorded so tests can assert what reached the "server".
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_POLICY } from '@attune/shared/policy';
import type { Policy } from '@attune/shared/policy';

export interface Recorded {
  method: string;
  path: string;
  auth: string | undefined;
  /** The Idempotency-Key header, when sent. */
  idempotencyKey?: string | undefined;
  body: unknown;
}

export interface FakeApiOptions {
  policy?: Partial<Policy>;
  /** Answer for POST /v1/dev/token: 'ok' or an HTTP status to refuse with. */
  devToken?: 'ok' | number;
  /** Addresses that are patients of the practice (POST /v1/recipients/patients). */
  patients?: string[];
  /** Answer for POST /v1/messages: 'ok' or [status, code]. */
  messages?: 'ok' | [number, string];
  /**
   * Answers of POST /v1/messages lost after the message was committed, one per request in order:
   * 'drop' closes the connection without an answer (timeout, network drop), a number answers that
   * 5xx status (a proxy or a crash after the commit). The message stays created, as on the server.
   */
  lostAnswers?: ('drop' | number)[];
  /** Extra routes (for the panes' engagement and caseload). */
  routes?: Record<string, (req: Recorded) => [number, unknown]>;
  /** Serve static files for browser tests: path prefix -> handler. */
  static?: (path: string, res: ServerResponse) => boolean;
}

/** A message the fake server created (a replay creates none). */
export interface CreatedMessage {
  id: string;
  idempotencyKey: string | undefined;
  body: unknown;
}

export interface FakeApi {
  url: string;
  requests: Recorded[];
  /** Messages created by POST /v1/messages, as the server would store them. */
  created: CreatedMessage[];
  /** Ids revoked by POST /v1/messages/:id/revoke, in order. */
  revoked: string[];
  options: FakeApiOptions;
  close(): Promise<void>;
}

export const NOTICE_HTML =
  '<p>You have a secure message from your care team. Open it: <a href="https://attune.test/m/abc">secure link</a></p>';

export async function startFakeApi(options: FakeApiOptions = {}): Promise<FakeApi> {
  const requests: Recorded[] = [];
  const created: CreatedMessage[] = [];
  const revoked: string[] = [];
  // Idempotency-Key -> the request it first came with and the answer given (the server's rule:
  // the same key and the same request replay the first answer; another request is 409 conflict).
  const byKey = new Map<string, { request: string; answer: { id: string } }>();
  let n = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      if (options.static && req.method === 'GET' && options.static(path, res)) return;
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = undefined;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      const key = req.headers['idempotency-key'];
      const rec: Recorded = {
        method: req.method ?? 'GET',
        path,
        auth: req.headers.authorization,
        idempotencyKey: Array.isArray(key) ? key[0] : key,
        body,
      };
      requests.push(rec);
      const send = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
        res.end(JSON.stringify(json));
      };
      const err = (status: number, code: string) =>
        send(status, { error: { code, message: `Refused: ${code}.` } });
      const route = `${rec.method} ${path.split('?')[0]}`;
      if (options.routes?.[route]) {
        const [s, j] = options.routes[route](rec);
        return send(s, j);
      }
      if (route === 'POST /v1/dev/token') {
        const dt = options.devToken ?? 'ok';
        return dt === 'ok' ? send(200, { token: 'dev-token-1' }) : err(dt, 'dev_tokens_disabled');
      }
      if (rec.auth !== 'Bearer dev-token-1') return err(401, 'unauthenticated');
      if (route === 'GET /v1/policy') return send(200, { ...DEFAULT_POLICY, ...options.policy });
      if (route === 'POST /v1/recipients/patients') {
        const asked = (body as { emails: string[] }).emails;
        return send(200, { patients: asked.filter((e) => (options.patients ?? []).includes(e)) });
      }
      if (route === 'POST /v1/messages') {
        const m = options.messages ?? 'ok';
        if (m !== 'ok') return err(m[0], m[1]);
        const b = body as { to: string[]; cc?: string[]; sendAt?: string; delivery?: 'server' | 'client' };
        const everyone = [...b.to, ...(b.cc ?? [])];
        // The server's rule (shared/src/api/messages.ts `delivery`): with "client", a send that goes
        // now to exactly one (secure-link) recipient is that recipient's notice; otherwise the server
        // emails every recipient. Each recipient is marked only when the request set `delivery`.
        const clientDelivered = b.delivery === 'client' && everyone.length === 1 && !b.sendAt;
        const lose = (answer: unknown) => {
          const lost = options.lostAnswers?.shift();
          if (lost === undefined) return send(202, answer);
          if (lost === 'drop') return void res.destroy();
          return err(lost, 'unavailable');
        };
        const previous = rec.idempotencyKey !== undefined ? byKey.get(rec.idempotencyKey) : undefined;
        if (previous) {
          // server/src/http/routes/messages.ts answers 409 conflict, naming the message it holds.
          if (previous.request !== raw)
            return send(409, {
              error: { code: 'conflict', message: 'Refused: conflict.', messageId: previous.answer.id },
            });
          return lose(previous.answer);
        }
        n++;
        const answer = {
          id: `msg_${n}`,
          decision: 'encrypt',
          reasons: ['PHI found'],
          recipients: everyone.map((email) => ({
            email,
            method: 'link',
            status: b.sendAt ? 'scheduled' : 'queued',
            ...(b.delivery ? { delivery: clientDelivered ? 'client' : 'server' } : {}),
          })),
          notice: { text: 'You have a secure message.', html: NOTICE_HTML },
          ...(b.sendAt ? { sendAt: '2026-11-23T15:00:00.000Z' } : {}),
        };
        created.push({ id: answer.id, idempotencyKey: rec.idempotencyKey, body });
        if (rec.idempotencyKey !== undefined) byKey.set(rec.idempotencyKey, { request: raw, answer });
        return lose(answer);
      }
      const notice = /^POST \/v1\/messages\/([^/]+)\/notice$/.exec(route);
      if (notice) {
        // server/src/delivery/notice.ts: the message's 202 notice again, the same link; revoked: 409.
        const id = decodeURIComponent(notice[1]!);
        const m = created.find((c) => c.id === id);
        if (!m) return err(404, 'message_not_found');
        if (revoked.includes(id)) return err(409, 'message_revoked');
        const b = m.body as { to: string[]; cc?: string[]; sendAt?: string; delivery?: string };
        const everyone = [...b.to, ...(b.cc ?? [])];
        const clientDelivered = b.delivery === 'client' && everyone.length === 1 && !b.sendAt;
        return send(200, {
          id,
          recipients: everyone.map((email) => ({
            email,
            method: 'link',
            status: clientDelivered ? 'sent' : b.sendAt ? 'scheduled' : 'queued',
            delivery: clientDelivered ? 'client' : 'server',
          })),
          notice: { text: 'You have a secure message.', html: NOTICE_HTML },
        });
      }
      const revoke = /^POST \/v1\/messages\/([^/]+)\/revoke$/.exec(route);
      if (revoke) {
        const id = decodeURIComponent(revoke[1]!);
        const m = created.find((c) => c.id === id);
        if (!m) return err(404, 'message_not_found');
        revoked.push(id);
        const b = m.body as { to: string[]; cc?: string[] };
        return send(200, {
          id,
          createdAt: '2026-11-23T10:00:00.000Z',
          sendAt: null,
          expiresAt: null,
          revokedAt: '2026-11-23T10:05:00.000Z',
          recipients: [...b.to, ...(b.cc ?? [])].map((email) => ({
            email,
            method: 'link',
            status: 'revoked',
            attempts: 1,
            lastError: null,
            sentAt: null,
            openedAt: null,
            repliedAt: null,
          })),
        });
      }
      return err(404, 'not_found');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    created,
    revoked,
    options,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A URL where nothing listens (a server that is down). */
export async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}
