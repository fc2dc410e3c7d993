// A compose item for office-addin-mock, with every write recorded, so tests can assert exactly what
// the add-in did to the draft. Failures can be injected per operation.
import { OfficeMockObject } from 'office-addin-mock';

export interface FakeAttachment {
  id: string;
  name: string;
  attachmentType?: 'file' | 'item' | 'cloud';
  isInline?: boolean;
  size?: number;
  format?: 'base64' | 'url' | 'eml' | 'iCalendar';
  content?: string;
}

export interface FakeDraftInit {
  subject?: string;
  html?: string;
  text?: string;
  to?: string[];
  cc?: string[];
  bcc?: string[];
  attachments?: FakeAttachment[];
  userEmail?: string;
  /** Operations that call back with a failure, e.g. 'body.setAsync'. */
  failing?: string[];
  initializationContext?: string;
  /**
   * The item's sessionData (Mailbox 1.11): pass one Map to several fakeOffice() calls to model the
   * same draft across presses of Send (each OnMessageSend runs in a fresh context; the item's session
   * data is what carries over). null: a host without sessionData. Default: an empty store.
   */
  sessionData?: Map<string, string> | null;
}

export interface Writes {
  subject: string[];
  body: { value: string; coercionType: unknown }[];
  removedAttachments: string[];
  headers: Record<string, string>[];
  closed: { discardItem?: boolean }[];
}

type Cb<T> = (r: { status: string; value: T; error?: { code: number; message: string } }) => void;

export function fakeOffice(init: FakeDraftInit): {
  office: OfficeMockObject;
  writes: Writes;
  calls: string[];
} {
  const writes: Writes = { subject: [], body: [], removedAttachments: [], headers: [], closed: [] };
  const calls: string[] = [];
  const failing = new Set(init.failing ?? []);
  const attachments = [...(init.attachments ?? [])];
  const sessionData = init.sessionData === undefined ? new Map<string, string>() : init.sessionData;
  function answer<T>(op: string, cb: Cb<T> | undefined, value: T): void {
    calls.push(op);
    if (!cb) return;
    if (failing.has(op))
      cb({
        status: 'failed',
        value: undefined as T,
        error: { code: 9999, message: `${op} injected failure` },
      });
    else cb({ status: 'succeeded', value });
  }
  const recips = (list: string[] | undefined, op: string) => ({
    getAsync: (cb: Cb<{ emailAddress: string; displayName: string }[]>) =>
      answer(
        op,
        cb,
        (list ?? []).map((e) => ({ emailAddress: e, displayName: e })),
      ),
  });
  const data = {
    host: 'outlook',
    AsyncResultStatus: { Succeeded: 'succeeded', Failed: 'failed' },
    CoercionType: { Html: 'html', Text: 'text' },
    EventType: { ItemChanged: 'olkItemSelectedChanged' },
    MailboxEnums: {
      SendModeOverride: { PromptUser: 'promptUser' },
      AttachmentContentFormat: { Base64: 'base64', Url: 'url', Eml: 'eml', ICalendar: 'iCalendar' },
    },
    context: {
      requirements: { isSetSupported: () => false },
      mailbox: {
        userProfile: { emailAddress: init.userEmail ?? 'clinician@practice.example' },
        item: {
          subject: {
            getAsync: (cb: Cb<string>) => answer('subject.getAsync', cb, init.subject ?? ''),
            setAsync: (v: string, a?: unknown, b?: unknown) => {
              const cb = (typeof a === 'function' ? a : b) as Cb<void> | undefined;
              if (!failing.has('subject.setAsync')) writes.subject.push(v);
              answer('subject.setAsync', cb, undefined);
            },
          },
          body: {
            getAsync: (coercion: string, a?: unknown, b?: unknown) => {
              const cb = (typeof a === 'function' ? a : b) as Cb<string>;
              answer(
                'body.getAsync',
                cb,
                coercion === 'text' ? (init.text ?? stripTags(init.html ?? '')) : (init.html ?? ''),
              );
            },
            setAsync: (v: string, opts: { coercionType?: unknown }, cb: Cb<void>) => {
              if (!failing.has('body.setAsync'))
                writes.body.push({ value: v, coercionType: opts?.coercionType });
              answer('body.setAsync', cb, undefined);
            },
          },
          to: recips(init.to, 'to.getAsync'),
          cc: recips(init.cc, 'cc.getAsync'),
          bcc: recips(init.bcc, 'bcc.getAsync'),
          getAttachmentsAsync: (a?: unknown, b?: unknown) => {
            const cb = (typeof a === 'function' ? a : b) as Cb<unknown[]>;
            answer(
              'getAttachmentsAsync',
              cb,
              attachments.map((x) => ({
                id: x.id,
                name: x.name,
                attachmentType: x.attachmentType ?? 'file',
                isInline: x.isInline ?? false,
                size: x.size ?? 10,
              })),
            );
          },
          getAttachmentContentAsync: (id: string, a?: unknown, b?: unknown) => {
            const cb = (typeof a === 'function' ? a : b) as Cb<{ format: string; content: string }>;
            const x = attachments.find((y) => y.id === id);
            answer('getAttachmentContentAsync', cb, {
              format: x?.format ?? 'base64',
              content: x?.content ?? '',
            });
          },
          removeAttachmentAsync: (id: string, a?: unknown, b?: unknown) => {
            const cb = (typeof a === 'function' ? a : b) as Cb<void>;
            if (!failing.has('removeAttachmentAsync')) writes.removedAttachments.push(id);
            answer('removeAttachmentAsync', cb, undefined);
          },
          internetHeaders: {
            setAsync: (headers: Record<string, string>, a?: unknown, b?: unknown) => {
              const cb = (typeof a === 'function' ? a : b) as Cb<void>;
              if (!failing.has('internetHeaders.setAsync')) writes.headers.push({ ...headers });
              answer('internetHeaders.setAsync', cb, undefined);
            },
          },
          closeAsync: (opts: { discardItem?: boolean }, cb: Cb<void>) => {
            writes.closed.push(opts);
            answer('closeAsync', cb, undefined);
          },
          getInitializationContextAsync: (cb: Cb<string>) =>
            answer('getInitializationContextAsync', cb, init.initializationContext ?? ''),
          ...(sessionData ? { sessionData: fakeSessionData(sessionData, answer, failing, calls) } : {}),
        },
      },
    },
  };
  return { office: new OfficeMockObject(data), writes, calls };
}

type Answer = <T>(op: string, cb: Cb<T> | undefined, value: T) => void;

/** Office.SessionData over a Map: getAsync, setAsync, removeAsync, getAllAsync, clearAsync. */
function fakeSessionData(store: Map<string, string>, answer: Answer, failing: Set<string>, calls: string[]) {
  const cbOf = <T>(a: unknown, b: unknown) => (typeof a === 'function' ? a : b) as Cb<T> | undefined;
  return {
    getAsync: (name: string, cb: Cb<string>) => {
      const value = store.get(name);
      if (value !== undefined) return answer('sessionData.getAsync', cb, value);
      // A name never set: Office's reference does not say what comes back. This fake answers with
      // a failure, the stricter case (the other would be an empty value): a caller must take a
      // failed read as "nothing stored" and go on.
      calls.push('sessionData.getAsync');
      cb({ status: 'failed', value: '', error: { code: 9999, message: `no session data named ${name}` } });
    },
    setAsync: (name: string, value: string, a?: unknown, b?: unknown) => {
      if (!failing.has('sessionData.setAsync')) store.set(name, String(value));
      answer('sessionData.setAsync', cbOf<void>(a, b), undefined);
    },
    removeAsync: (name: string, a?: unknown, b?: unknown) => {
      if (!failing.has('sessionData.removeAsync')) store.delete(name);
      answer('sessionData.removeAsync', cbOf<void>(a, b), undefined);
    },
    getAllAsync: (cb: Cb<object>) => answer('sessionData.getAllAsync', cb, Object.fromEntries(store)),
    clearAsync: (a?: unknown, b?: unknown) => {
      if (!failing.has('sessionData.clearAsync')) store.clear();
      answer('sessionData.clearAsync', cbOf<void>(a, b), undefined);
    },
  };
}

function stripTags(html: string): string {
  return html
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}
