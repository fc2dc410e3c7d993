// Where the add-in finds its server and how it signs in. Values are fixed at build time by
// build.mjs (esbuild `define`); tests and unbundled use fall back to the development defaults.

declare const __ATTUNE_PUBLIC_URL__: string | undefined;
declare const __ATTUNE_CLIENT_ID__: string | undefined;
declare const __ATTUNE_API_SCOPE__: string | undefined;
declare const __ATTUNE_DEV_AUTH__: boolean | undefined;

export interface AddinConfig {
  /** Base URL of the Attune server, no trailing slash: fetch needs absolute URLs in the JS-only runtime. */
  baseUrl: string;
  /** Entra ID application (client) id for nested app authentication; null disables NAA. */
  clientId: string | null;
  /** The API scope to request, e.g. api://attune.example.org/<client id>/access_as_user. */
  apiScope: string | null;
  /** Development only: use the server's local issuer (POST /v1/dev/token). */
  devAuth: boolean;
}

export const DEV_PUBLIC_URL = 'https://localhost:3000';

export function buildConfig(): AddinConfig {
  const baseUrl =
    typeof __ATTUNE_PUBLIC_URL__ === 'string' && __ATTUNE_PUBLIC_URL__
      ? __ATTUNE_PUBLIC_URL__
      : DEV_PUBLIC_URL;
  const clientId =
    typeof __ATTUNE_CLIENT_ID__ === 'string' && __ATTUNE_CLIENT_ID__ ? __ATTUNE_CLIENT_ID__ : null;
  const apiScope =
    typeof __ATTUNE_API_SCOPE__ === 'string' && __ATTUNE_API_SCOPE__ ? __ATTUNE_API_SCOPE__ : null;
  const devAuth = typeof __ATTUNE_DEV_AUTH__ === 'boolean' ? __ATTUNE_DEV_AUTH__ : true;
  return { baseUrl: trimSlash(baseUrl), clientId, apiScope, devAuth };
}

/**
 * In a page (task pane, HTML runtime) the server that served us is the server to talk to, so a
 * build made for one host still works when served from another. The JS-only runtime of classic
 * Outlook has no `location`; there the build-time URL stands.
 */
export function baseUrlFromLocation(href: string | undefined, fallback: string): string {
  if (!href) return fallback;
  try {
    const url = new URL(href);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return fallback;
    const i = url.pathname.indexOf('/addin/');
    if (i < 0) return fallback;
    return trimSlash(url.origin + url.pathname.slice(0, i));
  } catch {
    return fallback;
  }
}

export function runtimeConfig(): AddinConfig {
  const cfg = buildConfig();
  const href =
    typeof location !== 'undefined' && typeof location.href === 'string' ? location.href : undefined;
  return { ...cfg, baseUrl: baseUrlFromLocation(href, cfg.baseUrl) };
}

function trimSlash(s: string): string {
  return s.replace(/\/+$/, '');
}
