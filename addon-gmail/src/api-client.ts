// The add-on's only door to the server: UrlFetchApp with the user's Google ID token.
// Every expected failure (server down, token refused, not a patient, bad answer) comes back as a
// value the cards render; nothing here throws for them (CONVENTIONS 5). Exception texts from
// UrlFetchApp contain the URL, which may contain a patient's address, so they are never shown or
// kept: only the failure kind is.

import { serverBaseUrl } from './config.ts';

export type ApiFailure =
  /** Misconfigured ATTUNE_SERVER_URL (not https, not a URL). */
  | { kind: 'config' }
  /** ScriptApp.getIdentityToken() gave nothing: the openid scope is missing or not yet granted. */
  | { kind: 'no_identity' }
  /** DNS, connection refused, TLS, timeout or a URL outside urlFetchWhitelist. */
  | { kind: 'unreachable' }
  /** 401: the server refused the ID token (wrong audience, wrong domain, expired). */
  | { kind: 'unauthenticated'; message: string }
  | { kind: 'forbidden'; message: string }
  | { kind: 'not_found'; code: string; message: string }
  /** 429: nothing was done; `retryAfterSeconds` from Retry-After when the server sent it. */
  | { kind: 'rate_limited'; retryAfterSeconds?: number }
  /**
   * Other 4xx: the server's PHI-free message is shown as is. `messageId` only with 409 `conflict`
   * from POST /v1/messages: the clinician's own earlier message under that key (never PHI).
   */
  | { kind: 'rejected'; status: number; code: string; message: string; messageId?: string }
  /** `code` when the server said which failure it was (e.g. 500 `content_unreadable`). */
  | { kind: 'server_error'; status: number; code?: string }
  /** A 2xx whose body is not what the contract says (version skew, proxy page). */
  | { kind: 'bad_response' };

export type ApiResult<T> = { ok: true; data: T } | { ok: false; failure: ApiFailure };

export interface Parser<T> {
  safeParse(input: unknown): { success: true; data: T } | { success: false };
}

interface RequestSpec {
  method: 'get' | 'post';
  path: string;
  body?: unknown;
  /** Extra request headers (e.g. Idempotency-Key); never PHI: headers end up in logs. */
  headers?: Record<string, string>;
}

function identityToken(): string | null {
  try {
    const token = ScriptApp.getIdentityToken();
    return typeof token === 'string' && token.length > 0 ? token : null;
  } catch {
    // Thrown when the openid scope was not granted; the card tells the user what to do.
    return null;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorOf(body: unknown): { code: string; message: string; messageId?: string } {
  if (typeof body === 'object' && body !== null && 'error' in body) {
    const e = body.error;
    if (typeof e === 'object' && e !== null) {
      const { code, message, messageId } = e as { code?: unknown; message?: unknown; messageId?: unknown };
      if (typeof code === 'string' && typeof message === 'string')
        return typeof messageId === 'string' && messageId !== ''
          ? { code, message, messageId }
          : { code, message };
    }
  }
  return { code: 'unknown', message: 'The server refused the request.' };
}

/** Retry-After in seconds (the server sends delta-seconds), read case-insensitively; else undefined. */
function retryAfterOf(response: GoogleAppsScript.URL_Fetch.HTTPResponse): number | undefined {
  const headers = response.getHeaders() as Record<string, unknown>;
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() !== 'retry-after') continue;
    const raw = Array.isArray(value) ? (value[0] as unknown) : value;
    if (typeof raw !== 'string' || !/^\s*\d{1,6}\s*$/.test(raw)) return undefined;
    return Number.parseInt(raw, 10);
  }
  return undefined;
}

export function request<T>(spec: RequestSpec, parser: Parser<T>): ApiResult<T> {
  const base = serverBaseUrl();
  if (!base.ok) return { ok: false, failure: { kind: 'config' } };
  const token = identityToken();
  if (token === null) return { ok: false, failure: { kind: 'no_identity' } };

  const params: GoogleAppsScript.URL_Fetch.URLFetchRequestOptions = {
    method: spec.method,
    headers: { ...spec.headers, Authorization: `Bearer ${token}`, Accept: 'application/json' },
    // Status codes are handled below; without this UrlFetchApp throws on 4xx/5xx.
    muteHttpExceptions: true,
    // A redirect could carry the request to a host the admin did not configure.
    followRedirects: false,
  };
  if (spec.body !== undefined) {
    params.contentType = 'application/json';
    params.payload = JSON.stringify(spec.body);
  }

  let response: GoogleAppsScript.URL_Fetch.HTTPResponse;
  try {
    response = UrlFetchApp.fetch(base.baseUrl + spec.path, params);
  } catch {
    return { ok: false, failure: { kind: 'unreachable' } };
  }

  const status = response.getResponseCode();
  const body = parseJson(response.getContentText());
  if (status >= 200 && status < 300) {
    const parsed = parser.safeParse(body);
    return parsed.success
      ? { ok: true, data: parsed.data }
      : { ok: false, failure: { kind: 'bad_response' } };
  }
  if (status >= 500) {
    // The server's 5xx bodies carry a stable code too (never PHI, CONVENTIONS 4): kept so a card can
    // say what happened, e.g. a reply that is stored but cannot be read.
    const { code } = errorOf(body);
    return {
      ok: false,
      failure: code !== 'unknown' ? { kind: 'server_error', status, code } : { kind: 'server_error', status },
    };
  }
  // 3xx with followRedirects:false lands here too: treat as a misrouted server.
  if (status < 400) return { ok: false, failure: { kind: 'bad_response' } };
  const err = errorOf(body);
  switch (status) {
    case 401:
      return { ok: false, failure: { kind: 'unauthenticated', message: err.message } };
    case 403:
      return { ok: false, failure: { kind: 'forbidden', message: err.message } };
    case 404:
      return { ok: false, failure: { kind: 'not_found', code: err.code, message: err.message } };
    case 429: {
      const retryAfterSeconds = retryAfterOf(response);
      return {
        ok: false,
        failure:
          retryAfterSeconds !== undefined
            ? { kind: 'rate_limited', retryAfterSeconds }
            : { kind: 'rate_limited' },
      };
    }
    default:
      return {
        ok: false,
        failure: {
          kind: 'rejected',
          status,
          code: err.code,
          message: err.message,
          ...(err.messageId !== undefined ? { messageId: err.messageId } : {}),
        },
      };
  }
}
