import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

// Secrets handed to patients. Link tokens are 256 bits from the CSPRNG (ASVS 11.5.1: UUIDs do not
// qualify); only their SHA-256 is stored, so a database leak does not open any message.

export interface LinkToken {
  /** base64url, 43 characters: goes into the notice (URL or reply address), never stored. */
  token: string;
  /** hex SHA-256 of the token: what viewer_links.token_sha256 (or reply_token_sha256) holds. */
  sha256: string;
}

/** The token of a viewer link: `<PUBLIC_URL>/m/<token>` opens the message. */
export function newLinkToken(): LinkToken {
  const token = randomBytes(32).toString('base64url');
  return { token, sha256: hashToken(token) };
}

/**
 * The token of a link's reply address, `reply+<token>@<domain>`: as strong as the link token, but
 * it only delivers a reply by email through the gateway and never opens the viewer. An address is
 * seen by every mail server on the way (envelopes, headers, logs) and kept in the patient's address
 * book, so it must not be the credential that opens the message (ASVS 14.2.1).
 */
export function newReplyToken(): LinkToken {
  return newLinkToken();
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Cheap syntax check before any database work: exactly 43 base64url characters. */
export function looksLikeToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}

export const OTP_DIGITS = 8;

/** An 8-digit one-time code (10^8 space; with lockout after a handful of tries, guessing is hopeless). */
export function newOneTimeCode(): string {
  return String(randomInt(0, 10 ** OTP_DIGITS)).padStart(OTP_DIGITS, '0');
}

/**
 * Keyed hash of a one-time code, bound to its link: the code space is small, so a plain hash in a
 * leaked database could be reversed by enumeration; the HMAC key lives outside the database.
 */
export function hashOneTimeCode(key: Buffer, linkId: string, code: string): string {
  return createHmac('sha256', key).update(`otp|${linkId}|${code}`).digest('hex');
}

export function safeEqualHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
