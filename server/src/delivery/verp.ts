import { createHmac, timingSafeEqual } from 'node:crypto';
import type { MasterKey } from '../crypto/index.ts';

// VERP (variable envelope return path): each delivery leaves with its own envelope sender,
// bounce+<delivery id>-<MAC>@<the practice's reply domain>, so a delivery status notification
// (RFC 3464) that the recipient's server sends later, long after our relay said 250, comes back
// to the gateway (which takes mail for the reply domain) and names the delivery it is about.
//
// The address is a reference, not a secret: it travels in every envelope and Return-Path. The MAC
// (HMAC-SHA-256 under a key derived from the master key, 80 bits) is what makes it ours: anyone can
// write to bounce+…@, but only a return path we issued passes, and it is checked before any
// database work, so forged reports cost the gateway one HMAC. Lower-case hex throughout: some mail
// systems change the case of local parts. The local part is 7 + 32 + 1 + 20 = 60 characters,
// under the 64 of RFC 5321 4.5.3.1.1.

/** Local-part prefix of return paths; distinct from reply addresses (reply+<token>@). */
export const RETURN_PATH_PREFIX = 'bounce';

const MAC_HEX = 20;
const RETURN_PATH_RE = new RegExp(
  `^${RETURN_PATH_PREFIX}\\+([0-9a-f]{32})-([0-9a-f]{${MAC_HEX}})@([^@\\s]+)$`,
  'i',
);

const keys = new WeakMap<MasterKey, Buffer>();

function verpKey(masterKey: MasterKey): Buffer {
  let k = keys.get(masterKey);
  if (!k) {
    k = createHmac('sha256', masterKey.key).update('attune:verp-return-path:v1').digest();
    keys.set(masterKey, k);
  }
  return k;
}

function macOf(masterKey: MasterKey, compactId: string): string {
  return createHmac('sha256', verpKey(masterKey))
    .update(`delivery|${compactId}`)
    .digest('hex')
    .slice(0, MAC_HEX);
}

/** The envelope sender of one delivery, or null when its id is not a UUID (never the case for newId). */
export function returnPathFor(masterKey: MasterKey, deliveryId: string, domain: string): string | null {
  const compact = deliveryId.replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(compact)) return null;
  return `${RETURN_PATH_PREFIX}+${compact}-${macOf(masterKey, compact)}@${domain.toLowerCase()}`;
}

/** Whether `address` has the shape of a return path (domain not checked): cheap, no MAC. */
export function looksLikeReturnPath(address: string): boolean {
  return RETURN_PATH_RE.test(address.trim());
}

/**
 * The delivery id a return path names, when its MAC is ours; null for anything else (a forged or
 * mistyped address). Constant-time comparison of the MAC.
 */
export function deliveryOfReturnPath(masterKey: MasterKey, address: string): string | null {
  const m = RETURN_PATH_RE.exec(address.trim());
  if (!m) return null;
  const compact = m[1]!.toLowerCase();
  const given = Buffer.from(m[2]!.toLowerCase(), 'hex');
  const expected = Buffer.from(macOf(masterKey, compact), 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return `${compact.slice(0, 8)}-${compact.slice(8, 12)}-${compact.slice(12, 16)}-${compact.slice(16, 20)}-${compact.slice(20)}`;
}
