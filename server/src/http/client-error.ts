import type { Socket } from 'node:net';
import { errorBody } from './errors.ts';

/**
 * Requests that Node's HTTP parser rejects before the app sees them (headers over
 * `--max-http-header-size`, a malformed request line) would otherwise get Node's bare answer:
 * a status line and no body, no content type, none of our security headers. API clients and the
 * add-ins read `{"error":{"code","message"}}` everywhere, so answer these in the same shape.
 * The message names no part of the request (it could hold PHI in its URL or headers).
 */
export function onClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason, body] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [
          431,
          'Request Header Fields Too Large',
          errorBody('headers_too_large', 'The request line and headers exceed the size the server accepts.'),
        ]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', errorBody('request_timeout', 'The request took too long to arrive.')]
        : [400, 'Bad Request', errorBody('bad_request', 'The request is not well-formed HTTP.')];
  const json = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(json)}\r\n` +
      'Cache-Control: no-store\r\n' +
      'Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n' +
      'X-Content-Type-Options: nosniff\r\n' +
      'Referrer-Policy: no-referrer\r\n' +
      'X-Frame-Options: DENY\r\n' +
      "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'\r\n" +
      'Connection: close\r\n\r\n' +
      json,
  );
}
