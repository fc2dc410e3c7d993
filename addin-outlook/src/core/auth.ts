// Getting a bearer token for the Attune API. In production: nested app authentication (NAA, MSAL's
// nestable client) where the host supports it, else Office's SSO in event runtimes. In development:
// the server's local issuer (POST /v1/dev/token, only served when the server runs in development).
// Tokens live in memory only: never localStorage or sessionStorage.
import { createNestablePublicClientApplication } from '@azure/msal-browser';
import type { IPublicClientApplication } from '@azure/msal-browser';

export type TokenResult =
  | { ok: true; token: string }
  | { ok: false; reason: 'not_available' | 'sign_in_failed' | 'unreachable'; message: string };

export type TokenProvider = () => Promise<TokenResult>;

/** Tries providers in order; the first token wins. `not_available` falls through silently. */
export function chainTokenProviders(providers: readonly TokenProvider[]): TokenProvider {
  return async () => {
    let last: TokenResult = {
      ok: false,
      reason: 'not_available',
      message: 'No sign-in method is configured for Attune.',
    };
    for (const p of providers) {
      let r: TokenResult;
      try {
        r = await p();
      } catch {
        r = { ok: false, reason: 'sign_in_failed', message: 'Signing in to Attune failed.' };
      }
      if (r.ok) return r;
      // Report the most telling failure: a refused sign-in or a down server beats "not configured".
      if (r.reason !== 'not_available' || last.reason === 'not_available') last = r;
    }
    return last;
  };
}

/** Caches a provider's token in memory for `ttlMs`. A failure is never cached. */
export function cachedTokenProvider(
  provider: TokenProvider,
  ttlMs: number,
  now: () => number = Date.now,
): TokenProvider {
  let cached: { token: string; until: number } | null = null;
  return async () => {
    if (cached && cached.until > now()) return { ok: true, token: cached.token };
    const r = await provider();
    if (r.ok) cached = { token: r.token, until: now() + ttlMs };
    return r;
  };
}

/**
 * Development only: the server's local issuer. The server answers 403 `dev_tokens_disabled`
 * outside development, so a production build that left this on still cannot sign anyone in.
 */
export function devTokenProvider(opts: {
  baseUrl: string;
  email: () => string | undefined;
  fetch?: typeof fetch;
}): TokenProvider {
  const doFetch = opts.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  return async () => {
    const email = opts.email();
    if (!email) return { ok: false, reason: 'not_available', message: 'The mailbox address is not known.' };
    let res: Response;
    try {
      res = await doFetch(`${opts.baseUrl}/v1/dev/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ email }),
        credentials: 'omit',
      });
    } catch {
      // The server is down, which is not a sign-in problem: say so, so the user gets the right advice.
      return {
        ok: false,
        reason: 'unreachable',
        message: 'The Attune server could not be reached to sign you in.',
      };
    }
    const body: unknown = await res.json().catch(() => undefined);
    const token = body && typeof body === 'object' && 'token' in body ? body.token : undefined;
    if (!res.ok || typeof token !== 'string' || !token) {
      return {
        ok: false,
        reason: 'sign_in_failed',
        message: `Attune sign-in was refused (HTTP ${res.status}).`,
      };
    }
    return { ok: true, token };
  };
}

/** Nested app authentication (MSAL nestable client): silent first, then a popup when `interactive`. */
export function naaTokenProvider(opts: {
  clientId: string | null;
  scope: string | null;
  interactive: boolean;
}): TokenProvider {
  let pca: Promise<IPublicClientApplication> | null = null;
  return async () => {
    if (!opts.clientId || !opts.scope)
      return { ok: false, reason: 'not_available', message: 'Single sign-on is not configured.' };
    if (!naaSupported())
      return {
        ok: false,
        reason: 'not_available',
        message: 'This Outlook does not support nested app authentication.',
      };
    pca ??= createNestablePublicClientApplication({
      auth: { clientId: opts.clientId, authority: 'https://login.microsoftonline.com/common' },
      // Tokens stay in memory: nothing of ours in localStorage or sessionStorage.
      cache: { cacheLocation: 'memoryStorage' },
    });
    const app = await pca;
    const request = { scopes: [opts.scope] };
    try {
      const r = await app.acquireTokenSilent(request);
      return { ok: true, token: r.accessToken };
    } catch {
      if (!opts.interactive) {
        return {
          ok: false,
          reason: 'sign_in_failed',
          message: 'You are not signed in to Attune. Open the Attune pane to sign in.',
        };
      }
    }
    try {
      const r = await app.acquireTokenPopup(request);
      return { ok: true, token: r.accessToken };
    } catch {
      return { ok: false, reason: 'sign_in_failed', message: 'Signing in to Attune did not complete.' };
    }
  };
}

/** The slice of OfficeRuntime (not in @types/office-js) that we use. */
interface OfficeRuntimeLike {
  auth?: {
    getAccessToken(options?: { allowSignInPrompt?: boolean; allowConsentPrompt?: boolean }): Promise<string>;
  };
}

/** Legacy Office SSO, still the documented path inside event runtimes (needs WebApplicationInfo). */
export function officeRuntimeTokenProvider(): TokenProvider {
  return async () => {
    const auth = (globalThis as { OfficeRuntime?: OfficeRuntimeLike }).OfficeRuntime?.auth;
    if (!auth || typeof auth.getAccessToken !== 'function') {
      return { ok: false, reason: 'not_available', message: 'Office single sign-on is not available here.' };
    }
    try {
      const token = await auth.getAccessToken({ allowSignInPrompt: false, allowConsentPrompt: false });
      return { ok: true, token };
    } catch {
      return {
        ok: false,
        reason: 'sign_in_failed',
        message: 'Office single sign-on did not return a token.',
      };
    }
  };
}

function naaSupported(): boolean {
  try {
    return (
      typeof Office !== 'undefined' && Office.context.requirements.isSetSupported('NestedAppAuth', '1.1')
    );
  } catch {
    return false;
  }
}
