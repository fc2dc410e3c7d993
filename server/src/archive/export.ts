import { chainHash } from '../audit/chain.ts';
import { verifyChains, type ChainBreak } from '../audit/verify.ts';
import {
  decryptFromArchive,
  loadPrivateKey,
  type DecryptFailure,
  type MasterKey,
  type PrivateKey,
} from '../crypto/index.ts';
import type { ArchiveEntriesTable, Db } from '../store/index.ts';
import { archiveCanonical, archiveChain, sha256Hex } from './archive.ts';

// Archive export (DESIGN: "admins … export the archive"): the entries of one practice's archive
// chain, in a time range and optionally for one patient, checked against the chain and decrypted
// with the practice's archive keys, as JSON Lines: a manifest line, then one line per entry. What a
// practice hands over for a records request, eDiscovery or a legal hold (45 CFR 164.524 access,
// 164.530(j) retention). The whole export is built in memory, so that `--encrypt-to` can encrypt it
// before anything is written: the plaintext never touches disk.

export const EXPORT_FORMAT = 'attune-archive-export';
export const EXPORT_VERSION = 1;

export interface ExportRequest {
  practiceId: string;
  /** Inclusive lower bound of the entries' time (ISO 8601, UTC). */
  from?: string;
  /** Exclusive upper bound of the entries' time (ISO 8601, UTC). */
  to?: string;
  /** Only the messages to this address and the replies from it (lower-cased email). */
  patientEmail?: string;
  /** Export a chain that does not verify, marking what is not vouched for, instead of refusing. */
  allowBroken: boolean;
}

export interface ExportCounts {
  entries: number;
  messages: number;
  replies: number;
  attachments: number;
  /** Entries whose ciphertext did not decrypt (exported without content under allowBroken). */
  undecryptable: number;
  /** Entries the chain does not vouch for (only under allowBroken). */
  unverified: number;
}

export interface ExportManifest {
  type: 'manifest';
  format: typeof EXPORT_FORMAT;
  version: typeof EXPORT_VERSION;
  generated_at: string;
  practice: { id: string; name: string };
  filter: { from: string | null; to: string | null; patient: { id: string | null; email: string } | null };
  /** The chain as `attune verify` reports it: entries intact from the first, and the head hash there. */
  chain: {
    name: string;
    intact: boolean;
    verified_entries: number;
    head: string;
    merkle_root: string | null;
    checkpointed_to: { seq: number; at: string } | null;
    break: ChainBreak | null;
  };
  counts: ExportCounts;
}

export type ExportRefusal =
  | { ok: false; reason: 'chain_broken'; break: ChainBreak }
  | { ok: false; reason: 'undecryptable'; seq: number; ref: string; failure: DecryptFailure | 'no_key' }
  | { ok: false; reason: 'unknown_patient' };

export interface ExportResult {
  ok: true;
  manifest: ExportManifest;
  /** The patient id the filter resolved to (null: the address is a recipient but no patient record). */
  patientId: string | null;
  /** The JSONL document: the manifest line, then one line per entry, each ending in \n. */
  jsonl: string;
}

const COPY_REASONS = new Set<ChainBreak['reason']>([
  'content_mismatch',
  'unarchived',
  'content_mac_mismatch',
  'content_mac_missing',
  'content_mac_wrong_master_key',
]);

/** The stored forms (delivery/services.ts StoredContent, StoredReply), read leniently. */
interface StoredMessage {
  subject?: string;
  text?: string;
  html?: string;
  attachments?: Array<{ filename: string; contentType: string; contentBase64: string }>;
}
interface StoredReplyForm {
  text?: string;
  source?: string;
  rawBase64?: string;
  sender?: string;
}

export async function buildExport(
  db: Db,
  masterKey: MasterKey,
  req: ExportRequest,
  now: Date = new Date(),
): Promise<ExportResult | ExportRefusal> {
  const chain = archiveChain(req.practiceId);
  let patient: { id: string | null; email: string } | null = null;
  if (req.patientEmail !== undefined) {
    const email = req.patientEmail;
    const row = await db
      .selectFrom('patients')
      .select('id')
      .where('practice_id', '=', req.practiceId)
      .where('email', '=', email)
      .executeTakeFirst();
    const recipient = row
      ? undefined
      : await db
          .selectFrom('deliveries')
          .select('id')
          .where('practice_id', '=', req.practiceId)
          .where('email', '=', email)
          .executeTakeFirst();
    if (!row && !recipient) return { ok: false, reason: 'unknown_patient' };
    patient = { id: row?.id ?? null, email };
  }

  // The same check as `attune verify` (signed checkpoints included, keys vouched for by the master
  // key); of its report only this practice's archive chain matters here.
  const report = await verifyChains(db, { masterKey });
  const chainReport = report.chains.find((c) => c.chain === chain);
  const brk = chainReport?.break ?? null;
  if (brk && !req.allowBroken) return { ok: false, reason: 'chain_broken', break: brk };
  const verifiedEntries = chainReport?.entries ?? 0;
  // A break between the archive and the stored copies (or a copy's MAC) leaves the chain itself
  // intact to its head: the archive is the record, so its entries stay vouched for.
  const walkBreak = brk && !COPY_REASONS.has(brk.reason) ? brk : null;

  let q = db
    .selectFrom('archive_entries')
    .selectAll()
    .where('chain', '=', chain)
    .where('practice_id', '=', req.practiceId);
  // An intact chain is exported as verified, up to its head then (entries appended since are the
  // next export's); a broken one (allowBroken) all of it, marked.
  if (!walkBreak) q = q.where('seq', '<=', verifiedEntries);
  if (req.from) q = q.where('at', '>=', req.from);
  if (req.to) q = q.where('at', '<', req.to);
  if (patient) {
    const { id: pid, email } = patient;
    q = q.where((eb) =>
      eb.or([
        eb.and([
          eb('kind', '=', 'message'),
          eb(
            'ref_id',
            'in',
            eb
              .selectFrom('deliveries')
              .select('message_id')
              .where('practice_id', '=', req.practiceId)
              .where((d) =>
                pid ? d.or([d('email', '=', email), d('patient_id', '=', pid)]) : d('email', '=', email),
              ),
          ),
        ]),
        eb.and([
          eb('kind', '=', 'reply'),
          eb(
            'ref_id',
            'in',
            eb
              .selectFrom('replies as r')
              .innerJoin('deliveries as d', 'd.id', 'r.delivery_id')
              .select('r.id')
              .where('r.practice_id', '=', req.practiceId)
              .where((w) =>
                pid
                  ? w.or([w('d.email', '=', email), w('r.patient_id', '=', pid)])
                  : w('d.email', '=', email),
              ),
          ),
        ]),
      ]),
    );
  }
  const rows = (await q.orderBy('seq').execute()) as ArchiveEntriesTable[];

  const keys = await archiveKeys(db, masterKey, req.practiceId);
  const counts: ExportCounts = {
    entries: 0,
    messages: 0,
    replies: 0,
    attachments: 0,
    undecryptable: 0,
    unverified: 0,
  };
  const lines: string[] = [];
  for (const row of rows) {
    // Each exported row is checked again as read (its own hash and ciphertext digest), so a row
    // changed after the walk above is not exported as verified.
    const selfIntact =
      chainHash(row.prev_hash, archiveCanonical(row)) === row.hash &&
      sha256Hex(row.ciphertext) === row.ciphertext_sha256;
    // An entry an admin quarantined (its stored row judged tampered; the signed checkpoints name
    // it): in the chain, but its content is vouched for by nothing. Exported, marked so.
    const quarantined = chainReport?.quarantined?.includes(row.seq) === true;
    const intact = selfIntact && (!walkBreak || row.seq < walkBreak.seq);
    const verified = intact && !quarantined;
    if (!intact && !req.allowBroken)
      return {
        ok: false,
        reason: 'chain_broken',
        break: { chain, seq: row.seq, id: row.id, reason: 'hash_mismatch' },
      };
    const plain = await decryptWithAny(row.ciphertext, keys);
    if (!plain.ok && !req.allowBroken)
      return { ok: false, reason: 'undecryptable', seq: row.seq, ref: row.ref_id, failure: plain.reason };
    const base = {
      type: 'entry',
      kind: row.kind,
      id: row.ref_id,
      time: row.at,
      practice_id: row.practice_id,
      archive: {
        chain: row.chain,
        seq: row.seq,
        entry_id: row.id,
        hash: row.hash,
        prev_hash: row.prev_hash,
        ciphertext_sha256: row.ciphertext_sha256,
        verified,
        ...(quarantined ? { quarantined: true } : {}),
      },
    };
    counts.entries++;
    if (!verified) counts.unverified++;
    if (row.kind === 'reply') counts.replies++;
    else counts.messages++;
    const content = plain.ok ? parseJson(plain.data) : null;
    if (!plain.ok || content === null) {
      counts.undecryptable++;
      lines.push(
        JSON.stringify({
          ...base,
          ...(await context(db, row)),
          error: plain.ok ? 'not_json' : plain.reason,
        }),
      );
      continue;
    }
    if (row.kind === 'reply') {
      const r = content as StoredReplyForm;
      lines.push(
        JSON.stringify({
          ...base,
          ...(await context(db, row)),
          source: r.source ?? null,
          sender: r.sender ?? null,
          text: r.text ?? null,
          raw_base64: r.rawBase64 ?? null,
        }),
      );
    } else {
      const m = content as StoredMessage;
      const attachments = (m.attachments ?? []).map((a) => ({
        filename: a.filename,
        content_type: a.contentType,
        size: Buffer.from(a.contentBase64, 'base64').length,
        content_base64: a.contentBase64,
      }));
      counts.attachments += attachments.length;
      lines.push(
        JSON.stringify({
          ...base,
          ...(await context(db, row)),
          subject: m.subject ?? null,
          text: m.text ?? null,
          html: m.html ?? null,
          attachments,
        }),
      );
    }
  }

  const practice = await db
    .selectFrom('practices')
    .select('name')
    .where('id', '=', req.practiceId)
    .executeTakeFirst();
  const manifest: ExportManifest = {
    type: 'manifest',
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    generated_at: now.toISOString(),
    practice: { id: req.practiceId, name: practice?.name ?? '' },
    filter: { from: req.from ?? null, to: req.to ?? null, patient },
    chain: {
      name: chain,
      intact: !brk,
      verified_entries: verifiedEntries,
      head: chainReport?.head ?? '0'.repeat(64),
      merkle_root: chainReport?.merkleRoot ?? null,
      checkpointed_to: chainReport?.checkpointedTo ?? null,
      break: brk,
    },
    counts,
  };
  const jsonl = [JSON.stringify(manifest), ...lines].map((l) => `${l}\n`).join('');
  return { ok: true, manifest, patientId: patient?.id ?? null, jsonl };
}

function parseJson(data: Uint8Array): object | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(data).toString('utf8'));
    return v !== null && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
}

/** Who sent it and to whom (a message), or who replied to what (a reply), from the practice's rows. */
async function context(db: Db, row: ArchiveEntriesTable): Promise<Record<string, unknown>> {
  if (row.kind === 'reply') {
    const r = await db
      .selectFrom('replies as r')
      .leftJoin('deliveries as d', 'd.id', 'r.delivery_id')
      .select(['r.message_id', 'r.patient_id', 'd.email'])
      .where('r.id', '=', row.ref_id)
      .where('r.practice_id', '=', row.practice_id)
      .executeTakeFirst();
    return {
      in_reply_to: r?.message_id ?? null,
      patient: r ? { id: r.patient_id, email: r.email } : null,
    };
  }
  const m = await db
    .selectFrom('messages as m')
    .leftJoin('clinicians as c', 'c.id', 'm.clinician_id')
    .select(['m.clinician_id', 'c.email', 'c.name', 'm.in_reply_to', 'm.revoked_at', 'm.expires_at'])
    .where('m.id', '=', row.ref_id)
    .where('m.practice_id', '=', row.practice_id)
    .executeTakeFirst();
  const recipients = await db
    .selectFrom('deliveries')
    .select(['email', 'kind', 'patient_id', 'method', 'status'])
    .where('message_id', '=', row.ref_id)
    .where('practice_id', '=', row.practice_id)
    .orderBy('kind', 'desc')
    .orderBy('email')
    .execute();
  return {
    clinician: m ? { id: m.clinician_id, email: m.email, name: m.name } : null,
    recipients,
    in_reply_to: m?.in_reply_to ?? null,
    expires_at: m?.expires_at ?? null,
    revoked_at: m?.revoked_at ?? null,
  };
}

/** Every archive key the practice has had (a rotated one still opens the entries written under it). */
async function archiveKeys(db: Db, masterKey: MasterKey, practiceId: string): Promise<PrivateKey[]> {
  const rows = await db
    .selectFrom('practice_keys')
    .select(['sealed_private_key', 'retired_at', 'created_at'])
    .where('practice_id', '=', practiceId)
    .where('purpose', '=', 'archive')
    .orderBy('created_at', 'desc')
    .execute();
  // Sealed with the practice id and purpose as context: another practice's key does not open here.
  return Promise.all(rows.map((r) => loadPrivateKey(masterKey, practiceId, 'archive', r.sealed_private_key)));
}

async function decryptWithAny(
  ciphertext: Uint8Array,
  keys: PrivateKey[],
): Promise<{ ok: true; data: Uint8Array } | { ok: false; reason: DecryptFailure | 'no_key' }> {
  let last: DecryptFailure | 'no_key' = 'no_key';
  for (const key of keys) {
    const r = await decryptFromArchive(ciphertext, key);
    if (r.ok) return { ok: true, data: r.data };
    last = r.reason;
    if (r.reason === 'unreadable') break;
  }
  return { ok: false, reason: last };
}
