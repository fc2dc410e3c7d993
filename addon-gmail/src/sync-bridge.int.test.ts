// The bridge that lets the vm-loaded bundle make real, blocking HTTP requests, tested against a
// plain node:http server on an ephemeral port (the round trip with the Attune server is
// roundtrip.int.test.ts).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../build.mjs';
import { caseloadFixture } from '../fakes/fixtures.ts';
import { startBundleHost, type BundleHost } from '../fakes/sync-bridge.ts';
import { textOf } from '../fakes/index.ts';

let server: Server;
let base = '';
let host: BundleHost;
const seen: { url: string; auth: string | undefined }[] = [];

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    req.on('data', (c: Buffer) => (s += c.toString()));
    req.on('end', () => resolve(s));
  });
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void body(req).then(() => {
      seen.push({ url: req.url ?? '', auth: req.headers.authorization });
      if (req.headers.authorization !== 'Bearer good-token') {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'unauthenticated', message: 'Token not accepted.' } }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(caseloadFixture(1, 10, 2)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { code } = await bundle({ serverUrl: base, write: false });
  host = await startBundleHost({ code, token: 'good-token', scriptProperties: { ATTUNE_SERVER_URL: base } });
});

afterAll(async () => {
  await host.close();
  await new Promise((r) => server.close(r));
});

const event = { commonEventObject: { platform: 'WEB', hostApp: 'GMAIL', parameters: {}, formInputs: {} } };

describe('synchronous UrlFetchApp bridge', () => {
  it('lets the bundle fetch from a real HTTP server while it blocks', async () => {
    const r = await host.call('onHomepage', event);
    expect(r.error).toBeUndefined();
    expect(textOf(r.result)).toContain('Patient 1');
    expect(seen.at(-1)).toEqual({ url: '/v1/caseload?page=1&pageSize=10', auth: 'Bearer good-token' });
  });

  it('reports a closed port as the server being down', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadBase = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
    const { code } = await bundle({ serverUrl: deadBase, write: false });
    const dead = await startBundleHost({
      code,
      token: 'good-token',
      scriptProperties: { ATTUNE_SERVER_URL: deadBase },
    });
    try {
      const r = await dead.call('onHomepage', event);
      expect(textOf(r.result)).toContain('Attune server unreachable');
    } finally {
      await dead.close();
    }
  });
});
