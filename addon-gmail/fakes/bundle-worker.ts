// Worker side of the synchronous bridge (see sync-bridge.ts). Apps Script's UrlFetchApp blocks;
// Node's HTTP does not. So the built add-on runs here, in a worker thread inside node:vm with only
// the Apps Script fakes as globals, and each UrlFetchApp.fetch posts the request to the parent
// thread, then sleeps on Atomics.wait until the parent has done the real HTTP request and posted
// the reply, which it reads with receiveMessageOnPort. The parent's event loop stays free, so a
// server running in the parent (the real Attune server in the round-trip test) can answer.

import vm from 'node:vm';
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import {
  createFakeEnv,
  NetworkDown,
  type FakeMessageSpec,
  type RecordedRequest,
  type TransportReply,
} from './index.ts';

export interface WorkerInit {
  code: string;
  httpPort: MessagePort;
  flag: SharedArrayBuffer;
  token: string | null;
  scriptProperties: Record<string, string>;
  messages: FakeMessageSpec[];
  /** The project's oauthScopes; undefined grants every scope. */
  scopes?: string[];
  /** UrlFetchApp gives up after about a minute; so does the bridge. */
  timeoutMs: number;
}

export type BridgeReply = TransportReply | { networkError: true };

export interface CallRequest {
  id: number;
  fn: string;
  event: unknown;
}

export interface CallResult {
  id: number;
  /** The built card(s) or response as plain trees; `error` when the function threw. */
  result?: unknown;
  error?: string;
  requests: RecordedRequest[];
  drafts: { replyTo: string; body: string; options: Record<string, unknown> }[];
}

const init = workerData as WorkerInit;
const flag = new Int32Array(init.flag);

function transport(req: RecordedRequest): TransportReply {
  Atomics.store(flag, 0, 0);
  init.httpPort.postMessage(req);
  if (Atomics.wait(flag, 0, 0, init.timeoutMs) === 'timed-out') throw new NetworkDown();
  const msg = receiveMessageOnPort(init.httpPort);
  const reply = msg?.message as BridgeReply | undefined;
  if (reply === undefined || 'networkError' in reply) throw new NetworkDown();
  return reply;
}

const env = createFakeEnv({
  transport,
  token: init.token,
  messages: init.messages,
  scriptProperties: init.scriptProperties,
  ...(init.scopes ? { scopes: init.scopes } : {}),
});
const context = vm.createContext({
  CardService: env.CardService,
  UrlFetchApp: env.UrlFetchApp,
  ScriptApp: env.ScriptApp,
  GmailApp: env.GmailApp,
  PropertiesService: env.PropertiesService,
  Utilities: env.Utilities,
});
new vm.Script(init.code, { filename: 'Code.js' }).runInContext(context);
const globals = context as Record<string, unknown>;

function plain(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(plain);
  if (typeof x === 'object' && x !== null && 'tree' in x) return x.tree;
  return x;
}

parentPort?.on('message', (call: CallRequest) => {
  const before = env.UrlFetchApp.requests.length;
  const draftsBefore = env.GmailApp.drafts.length;
  const out: CallResult = { id: call.id, requests: [], drafts: [] };
  try {
    const fn = globals[call.fn];
    if (typeof fn !== 'function') throw new Error(`${call.fn} is not a global function`);
    out.result = plain((fn as (e: unknown) => unknown)(call.event));
  } catch (err) {
    out.error = err instanceof Error ? err.message : String(err);
  }
  out.requests = env.UrlFetchApp.requests.slice(before);
  out.drafts = env.GmailApp.drafts
    .slice(draftsBefore)
    .map((d) => ({ replyTo: d.replyTo, body: d.body, options: d.options }));
  parentPort?.postMessage(out);
});
