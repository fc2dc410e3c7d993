// The Attune HTTP API as the add-in uses it. Expected failures are values (CONVENTIONS 5); every
// response is checked against the shared contract before use.
import {
  CaseloadSchema,
  EngagementSchema,
  ErrorBodySchema,
  MessageNoticeResponseSchema,
  MessageStatusResponseSchema,
  isIdempotencyConflict as isConflictAnswer,
  PolicySchema,
  RecipientPatientsResponseSchema,
  ReplySchema,
  ScanResponseSchema,
  SendMessageResponseSchema,
} from '@attune/shared/api';
import type {
  RecipientPatientsResponse,
  Reply,
  Caseload,
  Engagement,
  MessageNoticeResponse,
  MessageStatusResponse,
  Policy,
  ScanRequestInput,
  ScanResponse,
  SendMessageRequestInput,
  SendMessageResponse,
} from '@attune/shared/api';
import type { TokenProvider } from './auth.ts';

export type ApiFailureReason =
  /** No answer: network down, DNS, TLS, timeout, CORS. */
  | 'unreachable'
  /** Could not get a token, or the server refused it (401). */
  | 'sign_in_failed'
  /** The server answered 4xx (other than 401): the request itself was refused. */
  | 'rejected'
  /** 5xx. */
  | 'server_error'
  /** 2xx with a body that does not match the contract. */
  | 'invalid_response';

export interface ApiFailure {
  ok: false;
  reason: ApiFailureReason;
  status?: number;
  /** The server's stable error code when it sent one. */
  code?: string;
  /** PHI-free text for people (the server's message, or ours). */
  message: string;
  /**
   * With a 409 `conflict` from POST /v1/messages: the message already accepted under the key (sent
   * by this clinician). Absent from servers before it was added, and for a colleague's message.
   */
  messageId?: string;
}

export type ApiResult<T> = { ok: true; value: T } | ApiFailure;

/**
 * 409 from POST /v1/messages: the Idempotency-Key was already used for a different request (the
 * server compares a hash of the whole request, delivery mode included).
 */
export function isIdempotencyConflict(r: { ok: boolean; status?: number; code?: string }): boolean {
  return !r.ok && isConflictAnswer(r.status, r.code);
}

/** The message id a 409 conflict names (see ApiFailure.messageId), else undefined. */
export function conflictMessageId(r: ApiResult<unknown>): string | undefined {
  return !r.ok && isIdempotencyConflict(r) ? r.messageId : undefined;
}

export interface ApiClient {
  getPolicy(): Promise<ApiResult<Policy>>;
  /**
   * `idempotencyKey` goes out as the Idempotency-Key header: the server answers a repeat with the
   * message it already accepted, so a retry after a lost answer cannot send twice.
   */
  sendMessage(
    req: SendMessageRequestInput,
    opts?: { idempotencyKey?: string },
  ): Promise<ApiResult<SendMessageResponse>>;
  /** Which of `emails` are patients of the practice (the known-patient rule at send). */
  recipientPatients(emails: readonly string[]): Promise<ApiResult<RecipientPatientsResponse>>;
  /**
   * The server's scan of a draft with its attachments' contents (PDF, Office, RTF, HTML), which the
   * add-in cannot read (POST /v1/scan). Nothing is stored.
   */
  scanDraft(req: ScanRequestInput): Promise<ApiResult<ScanResponse>>;
  /** A patient's secure reply, by the reference in its notice. */
  getReply(id: string): Promise<ApiResult<Reply>>;
  /** Revokes a message of this practice: its secure links stop working (POST /v1/messages/:id/revoke). */
  revokeMessage(id: string): Promise<ApiResult<MessageStatusResponse>>;
  /**
   * One of the clinician's messages' notice again, as its 202 carried it (the same secure link):
   * for a draft that must carry it after "keep the earlier version" (POST /v1/messages/:id/notice).
   */
  messageNotice(id: string): Promise<ApiResult<MessageNoticeResponse>>;
  getEngagement(email: string): Promise<ApiResult<Engagement>>;
  getCaseload(page?: number): Promise<ApiResult<Caseload>>;
}

export interface ApiClientOptions {
  baseUrl: string;
  getToken: TokenProvider;
  fetch?: typeof fetch;
  /** Per request. Smart Alerts shows "taking longer" after 5 s; a stuck server must not hang Send. */
  timeoutMs?: number;
}

interface Parser<T> {
  safeParse(v: unknown): { success: true; data: T } | { success: false };
}

export function createApiClient(opts: ApiClientOptions): ApiClient {
  const doFetch = opts.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const timeoutMs = opts.timeoutMs ?? 20_000;

  async function request<T>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    schema: Parser<T>,
    extraHeaders: Record<string, string> = {},
  ): Promise<ApiResult<T>> {
    const token = await opts.getToken();
    if (!token.ok)
      return {
        ok: false,
        reason: token.reason === 'unreachable' ? 'unreachable' : 'sign_in_failed',
        message: token.message,
      };
    const headers: Record<string, string> = {
      ...extraHeaders,
      accept: 'application/json',
      authorization: `Bearer ${token.token}`,
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await withTimeout(
        (signal) =>
          doFetch(opts.baseUrl + path, {
            method,
            headers,
            body: body === undefined ? null : JSON.stringify(body),
            ...(signal ? { signal } : {}),
            // Tokens only; never cookies (the panes run inside Outlook's frames).
            credentials: 'omit',
          }),
        timeoutMs,
      );
    } catch {
      return { ok: false, reason: 'unreachable', message: 'The Attune server could not be reached.' };
    }
    let json: unknown = undefined;
    try {
      json = await res.json();
    } catch {
      json = undefined;
    }
    if (res.ok) {
      const parsed = schema.safeParse(json);
      if (parsed.success) return { ok: true, value: parsed.data };
      return {
        ok: false,
        reason: 'invalid_response',
        status: res.status,
        message: 'The Attune server sent an unexpected answer.',
      };
    }
    const err = ErrorBodySchema.safeParse(json);
    const code = err.success ? err.data.error.code : undefined;
    const message = err.success ? err.data.error.message : `The Attune server answered ${res.status}.`;
    const messageId = err.success ? err.data.error.messageId : undefined;
    const reason: ApiFailureReason =
      res.status === 401 ? 'sign_in_failed' : res.status >= 500 ? 'server_error' : 'rejected';
    return {
      ok: false,
      reason,
      status: res.status,
      ...(code !== undefined ? { code } : {}),
      message,
      ...(messageId !== undefined ? { messageId } : {}),
    };
  }

  return {
    getPolicy: () => request('GET', '/v1/policy', undefined, PolicySchema),
    sendMessage: (req, o) =>
      request(
        'POST',
        '/v1/messages',
        req,
        SendMessageResponseSchema,
        o?.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {},
      ),
    // Addresses go in the body, never the URL: paths end up in proxy and browser logs.
    recipientPatients: (emails) =>
      request('POST', '/v1/recipients/patients', { emails }, RecipientPatientsResponseSchema),
    scanDraft: (req) => request('POST', '/v1/scan', req, ScanResponseSchema),
    getReply: (id) => request('GET', `/v1/replies/${encodeURIComponent(id)}`, undefined, ReplySchema),
    revokeMessage: (id) =>
      request(
        'POST',
        `/v1/messages/${encodeURIComponent(id)}/revoke`,
        undefined,
        MessageStatusResponseSchema,
      ),
    messageNotice: (id) =>
      request(
        'POST',
        `/v1/messages/${encodeURIComponent(id)}/notice`,
        undefined,
        MessageNoticeResponseSchema,
      ),
    getEngagement: (email) => request('POST', '/v1/engagement/lookup', { email }, EngagementSchema),
    getCaseload: (page = 1) => request('GET', `/v1/caseload?page=${page}`, undefined, CaseloadSchema),
  };
}

async function withTimeout<T>(fn: (signal: AbortSignal | undefined) => Promise<T>, ms: number): Promise<T> {
  // AbortController may be missing in the JS-only runtime; then the race alone bounds the wait.
  const controller = typeof AbortController === 'function' ? new AbortController() : undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller?.abort();
      reject(new Error('timeout'));
    }, ms);
  });
  try {
    return await Promise.race([fn(controller?.signal), timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
