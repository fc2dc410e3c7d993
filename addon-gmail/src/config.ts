// Where the add-on finds the Attune server. Admins set the script property ATTUNE_SERVER_URL
// (Apps Script editor → Project settings → Script properties, or `clasp` + the Apps Script API);
// without it the build-time default applies. The same origin must be in appsscript.json's
// urlFetchWhitelist, which build.mjs writes from the same ATTUNE_SERVER_URL environment variable.

declare const ATTUNE_DEFAULT_SERVER_URL: string | undefined;

/** Documented default when neither the script property nor the build variable is set. */
export const FALLBACK_SERVER_URL = 'https://attune.example.com';
export const SERVER_URL_PROPERTY = 'ATTUNE_SERVER_URL';

export type ServerUrlResult = { ok: true; baseUrl: string } | { ok: false; reason: 'invalid_server_url' };

function buildDefault(): string {
  // esbuild `define` replaces the identifier; under vitest (no define) it is undeclared.
  return typeof ATTUNE_DEFAULT_SERVER_URL === 'string' && ATTUNE_DEFAULT_SERVER_URL !== ''
    ? ATTUNE_DEFAULT_SERVER_URL
    : FALLBACK_SERVER_URL;
}

/**
 * The server base URL without a trailing slash. Only https is accepted, except plain http to the
 * loopback host for development: the ID token travels in the Authorization header and must never
 * cross a network in clear text.
 */
export function serverBaseUrl(): ServerUrlResult {
  const configured = PropertiesService.getScriptProperties().getProperty(SERVER_URL_PROPERTY);
  const raw = (configured ?? '').trim() || buildDefault();
  return validateBaseUrl(raw);
}

export function validateBaseUrl(raw: string): ServerUrlResult {
  // No URL class in Apps Script's V8, so parse by pattern.
  const m = /^(https?):\/\/([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:\d{1,5})?(\/[^\s?#]*)?$/.exec(raw.trim());
  if (!m) return { ok: false, reason: 'invalid_server_url' };
  const scheme = m[1];
  const host = (m[2] ?? '').toLowerCase();
  const loopback = host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
  if (scheme === 'http' && !loopback) return { ok: false, reason: 'invalid_server_url' };
  return { ok: true, baseUrl: raw.trim().replace(/\/+$/, '') };
}
