import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { MasterKey } from '../crypto/index.ts';

// Viewer secrets derived from the master key (HKDF-SHA256, one key per purpose), so nothing extra
// has to be configured or stored:
//  - CSRF tokens for the page's forms (ASVS 3.5.1): an HMAC over the link and the time of issue;
//  - the "code verified" cookie: an HMAC over the link and an expiry, HttpOnly, SameSite=Strict;
//  - the key that hashes one-time codes in the database;
//  - the per-page "opened" token the page's script posts back once a person has the page in view.

export interface ViewerKeys {
  csrf: Buffer;
  cookie: Buffer;
  otp: Buffer;
  open: Buffer;
}

export function deriveViewerKeys(masterKey: MasterKey): ViewerKeys {
  const derive = (info: string) =>
    Buffer.from(hkdfSync('sha256', masterKey.key, Buffer.from('attune-viewer'), Buffer.from(info), 32));
  return { csrf: derive('csrf'), cookie: derive('cookie'), otp: derive('otp'), open: derive('open') };
}

function mac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('base64url');
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export const CSRF_TTL_MS = 2 * 3_600_000;

export function csrfToken(keys: ViewerKeys, linkId: string, nowMs: number): string {
  const issued = nowMs.toString(36);
  const salt = randomBytes(6).toString('base64url');
  return `${issued}.${salt}.${mac(keys.csrf, `csrf|${linkId}|${issued}|${salt}`)}`;
}

export function checkCsrf(
  keys: ViewerKeys,
  linkId: string,
  token: string | undefined,
  nowMs: number,
): boolean {
  if (!token) return false;
  const [issued, salt, sig] = token.split('.');
  if (!issued || !salt || !sig) return false;
  const at = parseInt(issued, 36);
  if (!Number.isFinite(at) || nowMs - at > CSRF_TTL_MS || at - nowMs > 60_000) return false;
  return equal(sig, mac(keys.csrf, `csrf|${linkId}|${issued}|${salt}`));
}

/**
 * The token of the message page's open beacon: an HMAC (own key, so a form's CSRF token cannot
 * stand in for it) over the link and the time the page was rendered. It is only in the message
 * page itself, so a POST carrying it shows that page was fetched and its script ran.
 */
export const OPEN_TOKEN_TTL_MS = 12 * 3_600_000;

export function openToken(keys: ViewerKeys, linkId: string, nowMs: number): string {
  const issued = nowMs.toString(36);
  const salt = randomBytes(6).toString('base64url');
  return `${issued}.${salt}.${mac(keys.open, `open|${linkId}|${issued}|${salt}`)}`;
}

export function checkOpenToken(
  keys: ViewerKeys,
  linkId: string,
  token: string | undefined,
  nowMs: number,
): boolean {
  if (!token || token.length > 200) return false;
  const [issued, salt, sig] = token.split('.');
  if (!issued || !salt || !sig) return false;
  const at = parseInt(issued, 36);
  if (!Number.isFinite(at) || nowMs - at > OPEN_TOKEN_TTL_MS || at - nowMs > 60_000) return false;
  return equal(sig, mac(keys.open, `open|${linkId}|${issued}|${salt}`));
}

export const VERIFIED_TTL_MS = 3_600_000;

export function verifiedCookieValue(keys: ViewerKeys, linkId: string, nowMs: number): string {
  const exp = (nowMs + VERIFIED_TTL_MS).toString(36);
  return `${exp}.${mac(keys.cookie, `verified|${linkId}|${exp}`)}`;
}

export function checkVerifiedCookie(
  keys: ViewerKeys,
  linkId: string,
  value: string | undefined,
  nowMs: number,
): boolean {
  if (!value) return false;
  const [exp, sig] = value.split('.');
  if (!exp || !sig) return false;
  const until = parseInt(exp, 36);
  if (!Number.isFinite(until) || until < nowMs) return false;
  return equal(sig, mac(keys.cookie, `verified|${linkId}|${exp}`));
}

/** `__Host-` (Secure, Path=/, no Domain) on https; a plain name on http://localhost development. */
export function cookieName(publicUrl: string): string {
  return publicUrl.startsWith('https://') ? '__Host-attune_viewer' : 'attune_viewer';
}

export function newNonce(): string {
  return randomBytes(18).toString('base64');
}
