import type { Socket } from 'node:net';
import { errorBody } from './errors.ts';
import { STRICT_HEADERS } from './middleware/security-headers.ts';

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
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  head += 'Content-Type: application/json; charset=utf-8\r\n';
  head += `Content-Length: ${Buffer.byteLength(json)}\r\n`;
  for (const [name, value] of Object.entries(STRICT_HEADERS)) head += `${name}: ${value}\r\n`;
  socket.end(`${head}Connection: close\r\n\r\n${json}`);
}
