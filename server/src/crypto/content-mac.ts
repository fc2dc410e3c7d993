import { createHmac, timingSafeEqual } from 'node:crypto';
import type { MasterKey } from './seal.ts';

// Stored content bound to the master key. messages.body_ct and replies.body_ct are encrypted to the
// practice's archive key, whose public half is public by design: anyone who can write the database
// (a leaked credential, a restored tampered backup) could put content of their own there, encrypted
// to that key, and the patient would be shown it (or sent it, signed by the practice) under the
// practice's name. The archive's hash chain does not stop that: it is keyed by nothing, so it can be
// recomputed. An HMAC-SHA256 under a key derived from ATTUNE_MASTER_KEY (never the key itself), over
// the table, the practice, the row id and the ciphertext, stored beside it and checked before every
// read, can only be made by whoever holds the master key (45 CFR 164.312(c)(2): a mechanism that
// corroborates the data was not altered). Binding the row id and practice stops a valid pair being
// copied onto another row.
//
//   cm1.<master key id>.<HMAC base64url>
//
// The master key's id (public) says which key made it, so a wrong master key is told from tampering.
//
// A quarantine marker takes the MAC's place on a row an admin found tampered (`attune archive
// content-macs quarantine`): the same HMAC under the same key, over `cq1` instead of `cm1`, so one
// can never stand for the other. It says "the master key's holder saw this content of this row and
// refuses it": a read answers that the row is quarantined (a clear state, not a failure), and the
// checkpoint writer signs past its archive entry, naming it in the signed statement as quarantined
// (audit/checkpoint-writer.ts). Without the master key it can neither be made nor moved to another
// row or other content; deleting it leaves a row without a MAC, refused as before.
//
//   cq1.<master key id>.<HMAC base64url>

const VERSION = 'cm1';
const QUARANTINE = 'cq1';

export type ContentTable = 'messages' | 'replies';

export interface StoredContentRef {
  id: string;
  practiceId: string;
  bodyCt: Uint8Array;
}

export type ContentMacCheck =
  | { ok: true }
  | {
      ok: false;
      reason:
        | 'content_mac_missing'
        | 'content_mac_mismatch'
        | 'content_mac_wrong_master_key'
        // A valid quarantine marker: an admin refused this content (see above).
        | 'content_quarantined';
    };

const derived = new WeakMap<MasterKey, Buffer>();

function macKey(masterKey: MasterKey): Buffer {
  let k = derived.get(masterKey);
  if (!k) {
    k = createHmac('sha256', masterKey.key).update('attune:content-mac:v1').digest();
    derived.set(masterKey, k);
  }
  return k;
}

function digest(
  masterKey: MasterKey,
  table: ContentTable,
  row: StoredContentRef,
  version: typeof VERSION | typeof QUARANTINE = VERSION,
): Buffer {
  // NUL-separated: table, practice and row ids never hold a NUL; the ciphertext comes last.
  return createHmac('sha256', macKey(masterKey))
    .update(`${version}\0${table}\0${row.practiceId}\0${row.id}\0`, 'utf8')
    .update(row.bodyCt)
    .digest();
}

/** The MAC to store with a row's body_ct (in the transaction that writes it). */
export function contentMac(masterKey: MasterKey, table: ContentTable, row: StoredContentRef): string {
  return `${VERSION}.${masterKey.id}.${digest(masterKey, table, row).toString('base64url')}`;
}

/** The quarantine marker to store in body_mac of a row an admin refuses (see above). */
export function quarantineMarker(masterKey: MasterKey, table: ContentTable, row: StoredContentRef): string {
  return `${QUARANTINE}.${masterKey.id}.${digest(masterKey, table, row, QUARANTINE).toString('base64url')}`;
}

/**
 * Whether `mac` (the stored body_mac) vouches for the row's body_ct. A missing MAC does not; a valid
 * quarantine marker says so (content_quarantined), a forged or moved one is a mismatch.
 */
export function checkContentMac(
  masterKey: MasterKey,
  table: ContentTable,
  row: StoredContentRef,
  mac: string | null,
): ContentMacCheck {
  if (!mac) return { ok: false, reason: 'content_mac_missing' };
  const parts = mac.split('.');
  const version = parts[0];
  if (parts.length !== 3 || (version !== VERSION && version !== QUARANTINE))
    return { ok: false, reason: 'content_mac_mismatch' };
  if (parts[1] !== masterKey.id) return { ok: false, reason: 'content_mac_wrong_master_key' };
  const got = Buffer.from(parts[2]!, 'base64url');
  const want = digest(masterKey, table, row, version);
  if (got.length !== want.length || !timingSafeEqual(got, want))
    return { ok: false, reason: 'content_mac_mismatch' };
  return version === QUARANTINE ? { ok: false, reason: 'content_quarantined' } : { ok: true };
}
