// Parent side of the synchronous UrlFetchApp bridge: starts the built add-on in a worker thread
// (bundle-worker.ts) and performs its HTTP requests for real with fetch(), on this thread's free
// event loop. Used by tests that talk to a real server.

import { build } from 'esbuild';
import { join } from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { BridgeReply, CallRequest, CallResult, WorkerInit } from './bundle-worker.ts';
import type { FakeMessageSpec, RecordedRequest } from './index.ts';

export interface BundleHost {
  call(fn: string, event: unknown): Promise<CallResult>;
  close(): Promise<void>;
}

async function perform(req: RecordedRequest): Promise<BridgeReply> {
  try {
    const res = await fetch(req.url, {
      method: req.method,
      headers: {
        ...req.headers,
        ...(req.contentType !== undefined ? { 'Content-Type': req.contentType } : {}),
      },
      ...(req.payload !== undefined ? { body: req.payload } : {}),
      redirect: req.followRedirects ? 'follow' : 'manual',
    });
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      headers[k] = v;
    });
    return { status: res.status, body: await res.text(), headers };
  } catch {
    return { networkError: true };
  }
}

export async function startBundleHost(opts: {
  code: string;
  token: string | null;
  scriptProperties: Record<string, string>;
  messages?: FakeMessageSpec[];
  /** The project's oauthScopes (the built manifest's); undefined grants every scope. */
  scopes?: string[];
  timeoutMs?: number;
}): Promise<BundleHost> {
  const built = await build({
    entryPoints: [join(import.meta.dirname, 'bundle-worker.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    logLevel: 'silent',
  });
  const workerCode = built.outputFiles[0]?.text ?? '';
  const channel = new MessageChannel();
  const flagBuffer = new SharedArrayBuffer(4);
  const flag = new Int32Array(flagBuffer);
  const init: WorkerInit = {
    code: opts.code,
    httpPort: channel.port2,
    flag: flagBuffer,
    token: opts.token,
    scriptProperties: opts.scriptProperties,
    messages: opts.messages ?? [],
    ...(opts.scopes ? { scopes: opts.scopes } : {}),
    timeoutMs: opts.timeoutMs ?? 60_000,
  };
  const worker = new Worker(workerCode, { eval: true, workerData: init, transferList: [channel.port2] });

  channel.port1.on('message', (req: RecordedRequest) => {
    void perform(req).then((reply) => {
      channel.port1.postMessage(reply);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
    });
  });

  let nextId = 1;
  const pending = new Map<number, (r: CallResult) => void>();
  worker.on('message', (r: CallResult) => {
    pending.get(r.id)?.(r);
    pending.delete(r.id);
  });
  const failed = new Promise<never>((_, reject) => {
    worker.once('error', reject);
  });

  return {
    call(fn, event) {
      const id = nextId++;
      const done = new Promise<CallResult>((resolve) => pending.set(id, resolve));
      const msg: CallRequest = { id, fn, event };
      worker.postMessage(msg);
      return Promise.race([done, failed]);
    },
    async close() {
      channel.port1.close();
      await worker.terminate();
    },
  };
}
