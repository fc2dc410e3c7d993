// The built handler file, run the way classic Outlook's JavaScript-only runtime runs it: a classic
// script in a bare context whose only host global is a fake Office. No module loader, no fetch,
// no timers, no window: if the bundle imported anything or touched another global at load time,
// these tests would fail.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildInto } from '../testing/build-once.ts';

let out: string;
let source: string;
beforeAll(async () => {
  out = await buildInto();
  source = await readFile(join(out, 'launchevent.js'), 'utf8');
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

type Handler = (event: { completed(o?: unknown): void }) => unknown;

function bareOffice(item: { subject: string; html: string; to: string[] }) {
  const registered = new Map<string, Handler>();
  const ok = (value: unknown) => ({ status: 'succeeded', value });
  const Office = {
    actions: { associate: (name: string, fn: Handler) => registered.set(name, fn) },
    AsyncResultStatus: { Succeeded: 'succeeded', Failed: 'failed' },
    CoercionType: { Html: 'html', Text: 'text' },
    MailboxEnums: { SendModeOverride: { PromptUser: 'promptUser' } },
    context: {
      requirements: { isSetSupported: () => false },
      mailbox: {
        userProfile: { emailAddress: 'clinician@practice.example' },
        item: {
          subject: { getAsync: (cb: (r: unknown) => void) => cb(ok(item.subject)) },
          body: { getAsync: (_c: string, cb: (r: unknown) => void) => cb(ok(item.html)) },
          to: { getAsync: (cb: (r: unknown) => void) => cb(ok(item.to.map((e) => ({ emailAddress: e })))) },
          cc: { getAsync: (cb: (r: unknown) => void) => cb(ok([])) },
          bcc: { getAsync: (cb: (r: unknown) => void) => cb(ok([])) },
          getAttachmentsAsync: (cb: (r: unknown) => void) => cb(ok([])),
        },
      },
    },
  };
  return { Office, registered };
}

async function runBundle(item: { subject: string; html: string; to: string[] }) {
  const { Office, registered } = bareOffice(item);
  const context = vm.createContext({ Office });
  new vm.Script(source, { filename: 'launchevent.js' }).runInContext(context);
  const handler = registered.get('attuneOnMessageSend');
  const completed: unknown[] = [];
  if (handler) {
    // Office ignores the handler's return value; the handler settles through event.completed.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('event.completed was never called')), 10_000);
      void handler({
        completed: (o?: unknown) => {
          completed.push(o);
          clearTimeout(timer);
          resolve();
        },
      });
    });
    await new Promise((r) => setTimeout(r, 50)); // a second completion would land here
  }
  return { registered, completed };
}

describe('dist/launchevent.js in a bare JavaScript context', () => {
  it('is a classic script: no import or export statements, no require, no dynamic import', () => {
    // A classic script with an import or export statement does not even compile.
    expect(() => new vm.Script(source)).not.toThrow();
    expect(source).not.toMatch(/\brequire\s*\(/);
    expect(source).not.toMatch(/\bimport\s*\(/);
  });

  it('registers attuneOnMessageSend with Office.actions.associate and nothing else', async () => {
    const { registered } = await runBundle({ subject: 'Lunch', html: '<p>Noon?</p>', to: ['a@example.net'] });
    expect([...registered.keys()]).toEqual(['attuneOnMessageSend']);
    expect(typeof registered.get('attuneOnMessageSend')).toBe('function');
  });

  it('lets a message without PHI go even with no network at all', async () => {
    const { completed } = await runBundle({
      subject: 'Lunch',
      html: '<p>Shall we meet at noon?</p>',
      to: ['a@example.net'],
    });
    expect(completed).toEqual([{ allowEvent: true }]);
  });

  it('blocks PHI when it cannot reach the server, completing exactly once', async () => {
    const { completed } = await runBundle({
      subject: 'Follow-up',
      html: '<p>Hi Jane, your sertraline 50 mg for major depressive disorder is ready.</p>',
      to: ['pat.jones@gmail.com'],
    });
    expect(completed).toHaveLength(1);
    expect(completed[0]).toMatchObject({ allowEvent: false });
    expect((completed[0] as { errorMessageMarkdown: string }).errorMessageMarkdown).toContain(
      "can't reach its server",
    );
  });
});
