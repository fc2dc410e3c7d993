// Fake UrlFetchApp, after the reference (developers.google.com/apps-script/reference/url-fetch):
//   - fetch(url, params): method defaults to GET (case-insensitive); `payload` with no contentType
//     is sent as application/x-www-form-urlencoded; `muteHttpExceptions` defaults to false, and
//     then any 4xx/5xx makes fetch THROW ("Request failed for <url> returned code N. Truncated
//     server response: …"); with it true, the HTTPResponse comes back whatever the code.
//   - Network failures always throw, whatever muteHttpExceptions says, and the message names the
//     URL ("Exception: Address unavailable: <url>").
//   - Add-ons may only fetch URLs that start with an urlFetchWhitelist entry; others throw.
//   - HTTPResponse: getResponseCode(), getContentText([charset]), getHeaders(), getAllHeaders(),
//     getContent() (bytes, signed as Java bytes are).
// The transport is synchronous, as UrlFetchApp is.

export interface RecordedRequest {
  url: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers: Record<string, string>;
  contentType: string | undefined;
  payload: string | undefined;
  muteHttpExceptions: boolean;
  followRedirects: boolean;
}

export interface TransportReply {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

export type Transport = (req: RecordedRequest) => TransportReply;

/** Thrown by a transport to simulate DNS failure, refused connection or timeout. */
export class NetworkDown extends Error {}

export class FakeHTTPResponse {
  constructor(private readonly reply: Required<TransportReply>) {}
  getResponseCode(): number {
    return this.reply.status;
  }
  getContentText(_charset?: string): string {
    return this.reply.body;
  }
  getHeaders(): Record<string, string> {
    return { ...this.reply.headers };
  }
  getAllHeaders(): Record<string, string> {
    return { ...this.reply.headers };
  }
  getContent(): number[] {
    return Array.from(Buffer.from(this.reply.body, 'utf8')).map((b) => (b > 127 ? b - 256 : b));
  }
}

export interface FetchParams {
  method?: string;
  headers?: Record<string, string>;
  contentType?: string;
  payload?: string | Record<string, string>;
  muteHttpExceptions?: boolean;
  followRedirects?: boolean;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export function createUrlFetchApp(transport: Transport, opts: { whitelist?: readonly string[] } = {}) {
  const requests: RecordedRequest[] = [];
  return {
    requests,
    fetch(url: string, params: FetchParams = {}): FakeHTTPResponse {
      if (typeof url !== 'string' || !/^https?:\/\//i.test(url))
        throw new Error(`Exception: Invalid argument: ${String(url)}`);
      if (url.length > 2082) throw new Error('Exception: Limit Exceeded: URLFetch URL Length.');
      if (opts.whitelist && !opts.whitelist.some((prefix) => url.startsWith(prefix))) {
        throw new Error(`Exception: UrlFetch calls to ${url} are not permitted by your admin`);
      }
      const method = (params.method ?? 'get').toUpperCase();
      if (!(METHODS as readonly string[]).includes(method))
        throw new Error(`Exception: Invalid argument: method`);
      let payload: string | undefined;
      let contentType = params.contentType;
      if (typeof params.payload === 'string') payload = params.payload;
      else if (params.payload !== undefined) {
        payload = Object.entries(params.payload)
          .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
          .join('&');
      }
      if (payload !== undefined && contentType === undefined)
        contentType = 'application/x-www-form-urlencoded';
      const req: RecordedRequest = {
        url,
        method: method as RecordedRequest['method'],
        headers: { ...(params.headers ?? {}) },
        contentType,
        payload,
        muteHttpExceptions: params.muteHttpExceptions === true,
        followRedirects: params.followRedirects !== false,
      };
      requests.push(req);
      let reply: TransportReply;
      try {
        reply = transport(req);
      } catch (err) {
        if (err instanceof NetworkDown) throw new Error(`Exception: Address unavailable: ${url}`);
        throw err;
      }
      const full = { status: reply.status, body: reply.body ?? '', headers: reply.headers ?? {} };
      if (full.status >= 400 && !req.muteHttpExceptions) {
        throw new Error(
          `Exception: Request failed for ${url} returned code ${full.status}. Truncated server response: ${full.body.slice(0, 100)} (use muteHttpExceptions option to examine full response)`,
        );
      }
      return new FakeHTTPResponse(full);
    },
  };
}

export type FakeUrlFetchApp = ReturnType<typeof createUrlFetchApp>;

/** A JSON reply, as the Attune server sends. */
export function json(status: number, body: unknown): TransportReply {
  return { status, body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } };
}
