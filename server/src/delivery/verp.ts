import { createHmac, timingSafeEqual } from 'node:crypto';
import type { MasterKey } from '../crypto/index.ts';

// VERP (variable envelope return path): each delivery leaves with its own envelope sender,
// bounce+<delivery id>-<MAC>@<the practice's reply domain>, so a delivery status notification
// (RFC 3464) that the recipient's server sends later, long after our relay said 250, comes back
// to the gateway (which takes mail for the reply domain) and names the delivery it is about.
//
// A delivery queued again (admin.ts retryDelivery) is sent again under a new generation, and each
// generation has its own return path, bounce+<delivery id>-<generation>-<MAC>@…, so a report about
// the earlier send that comes after the new one went out names the send it is about and changes
// nothing (delivery-report.ts): read as a report on the new one it showed the delivery undelivered
// and invited another retry, a duplicate to the patient. Generation 0 (the first send) keeps the
// address without a generation, as every return path had before generations, so reports about
// mail already out still come home.
//
// The address is a reference, not a secret: it travels in every envelope and Return-Path. The MAC
// (HMAC-SHA-256 under a key derived from the master key, 80 bits, over the delivery id and the
// generation) is what makes it ours: anyone can write to bounce+…@, but only a return path we issued
// passes, a generation changed by hand fails it, and it is checked before any database work, so
// forged reports cost the gateway one HMAC. Lower-case hex throughout: some mail systems change the
// case of local parts. The local part is 7 + 32 + 1 + 20 = 60 characters, and with a generation of
// at most three hex digits (MAX_GENERATION) at most 64, the limit of RFC 5321 4.5.3.1.1.

/** Local-part prefix of return paths; distinct from reply addresses (reply+<token>@). */
export const RETURN_PATH_PREFIX = 'bounce';

/** The highest generation a return path can carry (three hex digits): retryDelivery stops there. */
export const MAX_GENERATION = 0xfff;

const MAC_HEX = 20;
/** A return path, its domain not checked: the delivery, the generation (none for 0) and the MAC. */
const RETURN_PATH_SHAPE = `${RETURN_PATH_PREFIX}\\+([0-9a-f]{32})(?:-([1-9a-f][0-9a-f]{0,2}))?-([0-9a-f]{${MAC_HEX}})@([^@\\s]+)`;
const RETURN_PATH_RE = new RegExp(`^${RETURN_PATH_SHAPE}$`, 'i');

/** What a return path names: a delivery (or a relayed message's copy) and the generation of its send. */
export interface ReturnPathRef {
  deliveryId: string;
  generation: number;
}

const keys = new WeakMap<MasterKey, Buffer>();

function verpKey(masterKey: MasterKey): Buffer {
  let k = keys.get(masterKey);
  if (!k) {
    k = createHmac('sha256', masterKey.key).update('attune:verp-return-path:v1').digest();
    keys.set(masterKey, k);
  }
  return k;
}

function macOf(masterKey: MasterKey, compactId: string, generation: number): string {
  // Generation 0 is MACed as before generations, so its addresses stay valid.
  return createHmac('sha256', verpKey(masterKey))
    .update(generation === 0 ? `delivery|${compactId}` : `delivery|${compactId}|${generation}`)
    .digest('hex')
    .slice(0, MAC_HEX);
}

/**
 * The envelope sender of one send (generation) of a delivery, or null when its id is not a UUID
 * (never the case for newId) or the generation is out of range (retryDelivery never goes past it).
 */
export function returnPathFor(
  masterKey: MasterKey,
  deliveryId: string,
  domain: string,
  generation = 0,
): string | null {
  const compact = deliveryId.replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(compact)) return null;
  if (!Number.isInteger(generation) || generation < 0 || generation > MAX_GENERATION) return null;
  const gen = generation === 0 ? '' : `-${generation.toString(16)}`;
  return `${RETURN_PATH_PREFIX}+${compact}${gen}-${macOf(masterKey, compact, generation)}@${domain.toLowerCase()}`;
}

/** Whether `address` has the shape of a return path (domain not checked): cheap, no MAC. */
export function looksLikeReturnPath(address: string): boolean {
  return RETURN_PATH_RE.test(address.trim());
}

/** The domain of an address shaped like a return path, lower-case; null for any other address. */
export function returnPathDomain(address: string): string | null {
  return RETURN_PATH_RE.exec(address.trim())?.[4]?.toLowerCase() ?? null;
}

/**
 * The delivery and generation a return path names, when its MAC is ours; null for anything else (a
 * forged or mistyped address, a generation changed by hand). Constant-time comparison of the MAC.
 */
export function deliveryOfReturnPath(masterKey: MasterKey, address: string): ReturnPathRef | null {
  const m = RETURN_PATH_RE.exec(address.trim());
  if (!m) return null;
  const compact = m[1]!.toLowerCase();
  const generation = m[2] ? parseInt(m[2], 16) : 0;
  const given = Buffer.from(m[3]!.toLowerCase(), 'hex');
  const expected = Buffer.from(macOf(masterKey, compact, generation), 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return {
    deliveryId: `${compact.slice(0, 8)}-${compact.slice(8, 12)}-${compact.slice(12, 16)}-${compact.slice(16, 20)}-${compact.slice(20)}`,
    generation,
  };
}
