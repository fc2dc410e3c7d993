import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { Resvg } from '@resvg/resvg-js';
import type { Engagement } from '@attune/shared/api';
import type { MasterKey } from '../crypto/index.ts';

// Chart PNGs for Gmail cards (CardService shows images by URL and cannot render SVG). The URL is
// short-lived and carries no PHI and no patient reference in clear:
//
//   <PUBLIC_URL>/v1/charts/<opaque>.png?exp=<unix seconds>&sig=<HMAC-SHA256>
//
// <opaque> is AES-256-GCM of [practiceId, patientId] under a key derived from the master key (so
// every server process behind a load balancer can open it, and nobody else can read or forge it);
// sig is an HMAC over "<opaque>.<exp>" under a second derived key, checked before anything else.
// The PNG is rendered on request from the same SVGs the sidebar shows, so it is never stale.

export const CHART_URL_TTL_MS = 10 * 60_000;

export interface ChartKeys {
  enc: Buffer;
  mac: Buffer;
}

/** Keys derived (HKDF-SHA256) from the master key; without one (tests), random per process. */
export function chartKeys(masterKey?: MasterKey): ChartKeys {
  const ikm = masterKey?.key ?? randomBytes(32);
  const derive = (info: string) =>
    Buffer.from(hkdfSync('sha256', ikm, Buffer.from('attune-charts'), Buffer.from(info), 32));
  return { enc: derive('chart-id-aes-256-gcm-v1'), mac: derive('chart-url-hmac-sha256-v1') };
}

const b64u = (b: Buffer) => b.toString('base64url');

function mac(keys: ChartKeys, opaque: string, exp: number): Buffer {
  return createHmac('sha256', keys.mac).update(`${opaque}.${exp}`).digest();
}

/** A signed PNG URL for one patient's charts, valid for `ttlMs` from `now`. */
export function signChartUrl(
  keys: ChartKeys,
  publicUrl: string,
  ref: { practiceId: string; patientId: string },
  now: Date,
  ttlMs = CHART_URL_TTL_MS,
): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keys.enc, iv);
  const ct = Buffer.concat([
    cipher.update(JSON.stringify([ref.practiceId, ref.patientId]), 'utf8'),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  const opaque = b64u(Buffer.concat([iv, ct]));
  const exp = Math.floor((now.getTime() + ttlMs) / 1000);
  return `${publicUrl}/v1/charts/${opaque}.png?exp=${exp}&sig=${b64u(mac(keys, opaque, exp))}`;
}

export type ChartTokenResult =
  | { ok: true; practiceId: string; patientId: string }
  | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' };

/** Checks a chart URL's parts: signature first (constant time), then expiry, then opens the id. */
export function openChartToken(
  keys: ChartKeys,
  opaque: string,
  expText: string | undefined,
  sigText: string | undefined,
  now: Date,
): ChartTokenResult {
  if (
    !/^[A-Za-z0-9_-]{40,400}$/.test(opaque) ||
    !expText ||
    !/^\d{1,12}$/.test(expText) ||
    !sigText ||
    !/^[A-Za-z0-9_-]{43}$/.test(sigText)
  ) {
    return { ok: false, reason: 'malformed' };
  }
  const exp = Number(expText);
  const expected = mac(keys, opaque, exp);
  const given = Buffer.from(sigText, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, reason: 'bad_signature' };
  if (exp * 1000 < now.getTime()) return { ok: false, reason: 'expired' };
  const raw = Buffer.from(opaque, 'base64url');
  if (raw.length < 12 + 16 + 2) return { ok: false, reason: 'malformed' };
  try {
    const decipher = createDecipheriv('aes-256-gcm', keys.enc, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    const plain = Buffer.concat([
      decipher.update(raw.subarray(12, raw.length - 16)),
      decipher.final(),
    ]).toString('utf8');
    const v = JSON.parse(plain) as unknown;
    if (!Array.isArray(v) || typeof v[0] !== 'string' || typeof v[1] !== 'string')
      return { ok: false, reason: 'malformed' };
    return { ok: true, practiceId: v[0], patientId: v[1] };
  } catch {
    // A valid HMAC over an id that does not open means a key mismatch between processes: malformed.
    return { ok: false, reason: 'malformed' };
  }
}

/** Both sidebar charts stacked on a white card, as one SVG (the PNG's source). */
export function combinedChartSvg(
  charts: Pick<Engagement['charts'], 'responseTimeSvg' | 'replyHoursSvg'>,
): string {
  const W = 256;
  const H = 124;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" color="#1f2937" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif">` +
    `<rect width="${W}" height="${H}" fill="#ffffff"/>` +
    `<text x="8" y="12" font-size="9">Reply time, weekly median (hours)</text>` +
    `<g transform="translate(8,16)">${charts.responseTimeSvg}</g>` +
    `<text x="8" y="88" font-size="9">Reply hours</text>` +
    `<g transform="translate(8,92)">${charts.replyHoursSvg}</g>` +
    `</svg>`
  );
}

/** Renders the charts to PNG at 2x (crisp on high-density screens). */
export function renderChartPng(
  charts: Pick<Engagement['charts'], 'responseTimeSvg' | 'replyHoursSvg'>,
): Buffer {
  const resvg = new Resvg(combinedChartSvg(charts), {
    fitTo: { mode: 'zoom', value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}
