// The real build output, loaded the way Apps Script loads it: one classic script in a fresh global
// scope whose only host objects are the Apps Script service fakes.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import vm from 'node:vm';
import { transform } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_BUDGET_BYTES, bundle, manifest, triggerNames, type Manifest } from '../build.mjs';
import {
  createFakeEnv,
  FakeActionResponse,
  FakeCard,
  FakeUpdateDraftActionResponse,
  findAll,
  json,
  textOf,
  type FakeEnv,
  type Transport,
} from '../fakes/index.ts';
import { engagementFixture, caseloadFixture, replyFixture, sendResponseFixture } from '../fakes/fixtures.ts';
import { router } from '../fakes/router.ts';

const SERVER = 'https://attune.bundle.test';
let code = '';
let m: Manifest;

beforeAll(async () => {
  const built = await bundle({ serverUrl: SERVER, write: false });
  code = built.code;
  m = built.manifest;
});

function load(env: FakeEnv): Record<string, (e: unknown) => unknown> {
  const context = vm.createContext({
    CardService: env.CardService,
    UrlFetchApp: env.UrlFetchApp,
    ScriptApp: env.ScriptApp,
    GmailApp: env.GmailApp,
    PropertiesService: env.PropertiesService,
    Utilities: env.Utilities,
  });
  new vm.Script(code, { filename: 'Code.js' }).runInContext(context);
  return context;
}

const MESSAGE = { id: 'm-1', accessToken: 'per-message', from: 'River Stone <river.stone@example.org>' };

function server(): Transport {
  return router(SERVER, {
    'GET /v1/caseload?page=1&pageSize=10': json(200, caseloadFixture(1, 10, 14)),
    'POST /v1/engagement/lookup': json(200, engagementFixture()),
    'GET /v1/policy': json(200, {}),
    'POST /v1/messages': json(201, sendResponseFixture()),
  });
}

function event(extra: Record<string, unknown> = {}, formInputs: Record<string, string[]> = {}) {
  const fi: Record<string, { stringInputs: { value: string[] } }> = {};
  for (const [k, v] of Object.entries(formInputs)) fi[k] = { stringInputs: { value: v } };
  return {
    commonEventObject: { platform: 'WEB', hostApp: 'GMAIL', parameters: {}, formInputs: fi },
    gmail: {
      accessToken: MESSAGE.accessToken,
      messageId: MESSAGE.id,
      threadId: 't',
      toRecipients: ['river.stone@example.org'],
    },
    ...extra,
  };
}

describe('the Apps Script bundle', () => {
  it('defines every function appsscript.json names as a global that returns cards', () => {
    // No script property: the build-time default server (define) must be used.
    const env = createFakeEnv({ transport: server(), messages: [MESSAGE], scriptProperties: {} });
    const g = load(env);
    const names = triggerNames(m);
    expect(names).toEqual(['onHomepage', 'onGmailMessageOpen', 'onGmailCompose']);
    for (const name of names) {
      expect(typeof g[name]).toBe('function');
      const cards = g[name]?.(event()) as unknown[];
      expect(Array.isArray(cards)).toBe(true);
      expect(cards.length).toBeGreaterThan(0);
      for (const c of cards) {
        expect(c).toBeInstanceOf(FakeCard);
        // An error card would mean the trigger failed behind the scenes.
        expect((c as FakeCard).tree.name).not.toBe('attune-error');
      }
    }
    expect(env.UrlFetchApp.requests.every((r) => r.url.startsWith(`${SERVER}/`))).toBe(true);
  });

  it('defines every action callback a card names as a global', () => {
    const env = createFakeEnv({ transport: server(), messages: [MESSAGE], scriptProperties: {} });
    const g = load(env);
    const trees = [
      ...(g.onHomepage?.(event()) as FakeCard[]),
      ...(g.onGmailMessageOpen?.(event()) as FakeCard[]),
      ...(g.onGmailCompose?.(event()) as FakeCard[]),
    ].map((c) => c.tree);
    const named = new Set<string>();
    for (const t of trees) {
      for (const a of findAll(t, 'Action')) named.add(a.functionName as string);
      for (const b of findAll(t, 'TextButton')) {
        const ca = b.composeAction as { functionName?: string } | undefined;
        if (ca?.functionName) named.add(ca.functionName);
      }
      for (const d of findAll(t, 'DecoratedText')) {
        const oa = d.onClickAction as { functionName?: string } | undefined;
        if (oa?.functionName) named.add(oa.functionName);
      }
    }
    expect([...named].sort()).toEqual(
      [
        'onCaseloadPage',
        'onCheckInDraft',
        'onComposeScan',
        'onComposeSchedule',
        'onComposeSend',
        'onOpenPatient',
      ].sort(),
    );
    for (const n of named) expect(typeof g[n]).toBe('function');
  });

  it('scans with the bundled shared detector inside the sandbox and shows findings with reasons', () => {
    const env = createFakeEnv({ transport: server(), messages: [MESSAGE], scriptProperties: {} });
    const g = load(env);
    const body =
      'Hi River, as we discussed your major depressive disorder diagnosis, please keep taking sertraline 50 mg daily. ' +
      'Your SSN on file is 536-22-8741.';
    const res = g.onComposeScan?.(event({}, { attune_body: [body] })) as FakeActionResponse;
    expect(res).toBeInstanceOf(FakeActionResponse);
    const text = textOf(res.tree);
    expect(text).toContain('Scan results');
    expect(text).toMatch(/Contains PHI|Blocked by your practice/);
    expect(text).toMatch(/DIAGNOSIS|MEDICATION/);
    expect(text).toContain('SSN');
    expect(text).toContain('% sure');
  });

  it('sends securely from the sandbox and returns a draft update with the notice', () => {
    const env = createFakeEnv({ transport: server(), messages: [MESSAGE], scriptProperties: {} });
    const g = load(env);
    const res = g.onComposeSend?.(event({}, { attune_body: ['See you Tuesday.'] }));
    expect(res).toBeInstanceOf(FakeUpdateDraftActionResponse);
    expect(env.UrlFetchApp.requests.at(-1)).toMatchObject({ method: 'POST', url: `${SERVER}/v1/messages` });
  });

  it("shows a patient's secure reply beside its notice, under exactly the manifest's scopes", () => {
    const id = replyFixture().id;
    const notice = {
      id: 'n-1',
      accessToken: 'per-message',
      from: 'notices@practice.test',
      subject: 'New secure reply (Lakeside)',
      body: `A patient replied to your secure message.\n\nOpen Attune in Outlook or Gmail to read it.\nReference: ${id}`,
    };
    const env = createFakeEnv({
      transport: router(SERVER, {
        [`GET /v1/replies/${id}`]: json(200, replyFixture()),
        'POST /v1/engagement/lookup': json(200, engagementFixture()),
      }),
      messages: [notice],
      scriptProperties: {},
      scopes: m.oauthScopes,
    });
    const g = load(env);
    const cards = g.onGmailMessageOpen?.(
      event({ gmail: { accessToken: notice.accessToken, messageId: notice.id, threadId: 't' } }),
    ) as FakeCard[];
    expect(cards[0]?.tree.name).toBe('attune-reply');
    expect(textOf(cards[0]?.tree)).toContain('Thursday at 4 works for me.');
    expect(env.UrlFetchApp.requests[0]?.url).toBe(`${SERVER}/v1/replies/${id}`);
  });

  it('has no require, import or export at run time', async () => {
    // Comments may mention import(); strip them first.
    const { code: stripped } = await transform(code, { minifyWhitespace: true, legalComments: 'none' });
    expect(stripped).not.toMatch(/\brequire\s*\(/);
    expect(stripped).not.toMatch(/\bimport\s*\(|\bimport\s*\{|\bimport\s+\w+\s+from\b|\bimport\.meta\b/);
    expect(stripped).not.toMatch(/(^|[;}])\s*export\s/);
    // It is a classic script: compiling as one must succeed (a module would not).
    expect(() => new vm.Script(code)).not.toThrow();
  });

  it(`stays within the ${BUNDLE_BUDGET_BYTES}-byte budget`, () => {
    expect(Buffer.byteLength(code, 'utf8')).toBeLessThanOrEqual(BUNDLE_BUDGET_BYTES);
  });
});

describe('appsscript.json', () => {
  it('asks for exactly the narrow scopes, V8, METADATA draft access and the server in the fetch whitelist', () => {
    const man = manifest(SERVER);
    expect(man.runtimeVersion).toBe('V8');
    expect([...man.oauthScopes].sort()).toEqual(
      [
        'https://www.googleapis.com/auth/gmail.addons.execute',
        'https://www.googleapis.com/auth/gmail.addons.current.action.compose',
        'https://www.googleapis.com/auth/gmail.addons.current.message.metadata',
        // The text of the open message only, for a reply notice's Reference (src/reply.ts).
        'https://www.googleapis.com/auth/gmail.addons.current.message.readonly',
        'https://www.googleapis.com/auth/script.external_request',
        'https://www.googleapis.com/auth/userinfo.email',
        'openid',
      ].sort(),
    );
    expect(man.urlFetchWhitelist).toEqual([`${SERVER}/`]);
    expect(man.addOns.gmail.composeTrigger.draftAccess).toBe('METADATA');
    expect(man.addOns.gmail.contextualTriggers[0]?.unconditional).toEqual({});
  });

  it('.clasp.json pushes the dist folder', async () => {
    const clasp = JSON.parse(await readFile(join(import.meta.dirname, '..', '.clasp.json'), 'utf8')) as {
      rootDir: string;
    };
    expect(clasp.rootDir).toBe('dist');
  });
});
