// Fakes of ScriptApp, GmailApp, PropertiesService and Utilities for what the add-on uses, after the reference:
//   - ScriptApp.getIdentityToken(): the user's OpenID Connect ID token (a JWT) when the project has
//     the `openid` scope; without it there is no token. Modelled as a configurable token or failure.
//   - GmailApp under gmail.addons.current.message.* scopes: getMessageById works only for the
//     message whose per-message access token was given to setCurrentMessageAccessToken (the
//     real service fails with "Missing access token for per message scope authorization").
//     GmailMessage.getFrom() returns the From header as written ("Name <addr>"); getSubject() the
//     subject. getPlainBody() returns the text, and needs a scope that reads message content
//     (gmail.addons.current.message.readonly, or the broad gmail.readonly / mail.google.com); under
//     the metadata scope alone Apps Script throws "Specified permissions are not sufficient to call
//     GmailMessage.getPlainBody". Given the project's `scopes`, the fake does the same.
//     createDraftReply(body, options) creates a reply draft (allowed by
//     gmail.addons.current.action.compose inside a compose action).
//   - PropertiesService: string values only; getProperty of a missing key is null.
//   - Utilities.getUuid(): a UUID string, by the reference the equivalent of
//     java.util.UUID.randomUUID() (random, version 4, 36 characters), a new one on every call.

import { randomUUID } from 'node:crypto';

/** `THROWS` models a project without the openid scope. */
export const THROWS = Symbol('throws');

export function createScriptApp(opts: { token: string | null | typeof THROWS }) {
  return {
    getIdentityToken(): string | null {
      if (opts.token === THROWS)
        throw new Error(
          'Exception: Specified permissions are not sufficient to call ScriptApp.getIdentityToken.',
        );
      return opts.token;
    },
  };
}

export interface FakeMessageSpec {
  id: string;
  accessToken: string;
  from: string;
  subject?: string;
  /** What getPlainBody() returns. */
  body?: string;
}

/** Scopes under which GmailMessage.getPlainBody() may read the open message's text. */
const CONTENT_SCOPES = [
  'https://www.googleapis.com/auth/gmail.addons.current.message.readonly',
  'https://www.googleapis.com/auth/gmail.readonly',
  'https://mail.google.com/',
];

export interface FakeDraft {
  id: string;
  replyTo: string;
  body: string;
  options: Record<string, unknown>;
  getId(): string;
}

/**
 * `scopes`: the project's oauthScopes (appsscript.json); getPlainBody() throws without a content
 * scope among them. Undefined: every scope is granted.
 */
export function createGmailApp(
  messages: readonly FakeMessageSpec[],
  opts: { scopes?: readonly string[] } = {},
) {
  let current: string | null = null;
  const drafts: FakeDraft[] = [];
  /** Ids of the messages whose text was read (tests check which ones the add-on reads). */
  const bodiesRead: string[] = [];
  return {
    drafts,
    bodiesRead,
    setCurrentMessageAccessToken(token: string): void {
      if (typeof token !== 'string' || token === '')
        throw new Error('Exception: Invalid argument: accessToken');
      current = token;
    },
    getMessageById(id: string) {
      const m = messages.find((x) => x.id === id);
      if (m === undefined) throw new Error('Exception: Invalid argument: id');
      if (current !== m.accessToken) {
        throw new Error('Access denied: : Missing access token for per message scope authorization.');
      }
      return {
        getId: () => m.id,
        getFrom: () => m.from,
        getSubject: () => m.subject ?? '',
        getPlainBody(): string {
          if (opts.scopes !== undefined && !opts.scopes.some((sc) => CONTENT_SCOPES.includes(sc))) {
            throw new Error(
              'Exception: Specified permissions are not sufficient to call GmailMessage.getPlainBody. ' +
                'Required permissions: https://www.googleapis.com/auth/gmail.addons.current.message.readonly',
            );
          }
          bodiesRead.push(m.id);
          return m.body ?? '';
        },
        createDraftReply(body: string, options: Record<string, unknown> = {}) {
          if (typeof body !== 'string') throw new Error('Exception: Invalid argument: body');
          const draft: FakeDraft = {
            id: `r-${drafts.length + 1}`,
            replyTo: m.id,
            body,
            options: { ...options },
            getId() {
              return this.id;
            },
          };
          drafts.push(draft);
          return draft;
        },
      };
    },
  };
}

export function createProperties(initial: Record<string, string> = {}) {
  const store = new Map(Object.entries(initial));
  return {
    getProperty: (key: string): string | null => store.get(key) ?? null,
    setProperty(key: string, value: string) {
      if (typeof value !== 'string') throw new Error('Exception: Invalid argument: value');
      store.set(key, value);
      return this;
    },
    deleteProperty(key: string) {
      store.delete(key);
      return this;
    },
    getProperties: (): Record<string, string> => Object.fromEntries(store),
    getKeys: (): string[] => [...store.keys()],
  };
}

export function createPropertiesService(script: Record<string, string> = {}) {
  const scriptProps = createProperties(script);
  const userProps = createProperties();
  return {
    getScriptProperties: () => scriptProps,
    getUserProperties: () => userProps,
    getDocumentProperties: () => null,
  };
}

export function createUtilities() {
  const uuids: string[] = [];
  return {
    /** Every UUID handed out, in order (tests assert which one a request carried). */
    uuids,
    getUuid(): string {
      const id = randomUUID();
      uuids.push(id);
      return id;
    },
  };
}
