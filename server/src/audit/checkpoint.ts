import {
  fingerprintOf,
  loadPrivateKey,
  loadPublicKey,
  verifyCleartext,
  type MasterKey,
  type PrivateKey,
  type PublicKey,
} from '../crypto/index.ts';
import type { Db } from '../store/index.ts';

// Signed checkpoints (notes/security.md, "a signed tree head commits to the size and the root"). A
// hash chain shows an entry edited by someone who left the later hashes alone; someone with write
// access to the database can also recompute every later hash and the head, and the chain verifies
// again. A checkpoint is the statement "chain C had N entries and head H at time T", signed with the
// practice's signing key, whose private half is sealed under the master key: rewriting history
// before a checkpoint, or cutting the chain short of it, then needs that key too. The statement is an
// OpenPGP cleartext signature, so anyone with the practice's public key can check a copy kept
// elsewhere (`gpg --verify`), and `attune verify --against FILE` checks the chains against such copies,
// which also shows checkpoints deleted from the database.

export interface CheckpointStatement {
  chain: string;
  seq: number;
  head: string;
  /** ISO 8601 UTC. */
  at: string;
  /**
   * Archive chains: the seqs (ascending, at most `seq`) of entries whose stored message or reply an
   * admin quarantined (crypto/content-mac.ts): the chain holds them, but the master key does not
   * vouch for their content. Every quarantined seq up to `seq`, carried from checkpoint to
   * checkpoint (and a row quarantined after a checkpoint covered its entry is named by the next
   * one, its seq then before that one's start), so the latest checkpoint says whether it was quarantined, and a
   * row at such a seq is never bound on a checkpoint's word (store/content-macs.ts). Absent (and
   * not in the text) when there are none, as in every checkpoint before quarantines existed.
   */
  quarantined?: number[];
}

const TITLE = 'Attune chain checkpoint';

/** The statement's text, as signed. */
export function checkpointText(s: CheckpointStatement): string {
  const q = s.quarantined?.length ? `quarantined: ${s.quarantined.join(' ')}\n` : '';
  return `${TITLE}\nchain: ${s.chain}\nseq: ${s.seq}\nhead: ${s.head}\nat: ${s.at}\n${q}`;
}

const TEXT_RE =
  /^Attune chain checkpoint\r?\nchain: ([A-Za-z0-9:_-]{1,200})\r?\nseq: (\d{1,15})\r?\nhead: ([0-9a-f]{64})\r?\nat: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?Z)(?:\r?\nquarantined: (\d{1,15}(?: \d{1,15})*))?\r?\n?$/;

/** The statement of a signed text, or null when the text is not exactly one. */
export function parseCheckpointText(text: string): CheckpointStatement | null {
  const m = TEXT_RE.exec(text);
  if (!m) return null;
  const statement: CheckpointStatement = { chain: m[1]!, seq: Number(m[2]), head: m[3]!, at: m[4]! };
  if (m[5] !== undefined) {
    const seqs = m[5].split(' ').map(Number);
    // Ascending, distinct and within the chain's length, as the writer makes them: else not ours.
    if (seqs.some((n, i) => n < 1 || n > statement.seq || (i > 0 && n <= seqs[i - 1]!))) return null;
    statement.quarantined = seqs;
  }
  return statement;
}

/** The practice a chain belongs to (`archive:<id>`, `audit:<id>`), or null for the deployment's own. */
export function practiceOfChain(chain: string): string | null {
  const i = chain.indexOf(':');
  return i < 0 ? null : chain.slice(i + 1);
}

export interface CheckpointSigner {
  privateKey: PrivateKey;
  fingerprint: string;
}

export interface CheckpointKeys {
  /** Signing public keys by fingerprint, with the practice each belongs to. */
  keys: Map<string, { practiceId: string; key: PublicKey }>;
  /** Each key's sealed private half opened under the master key and matched its public half. */
  authenticated: boolean;
  /** Fingerprints of signing keys in the database that the master key does not vouch for. */
  rejected: string[];
}

/**
 * The practices' signing keys (current and retired) that checkpoints may be signed with. With the
 * master key, a key counts only if its sealed private half opens under it and is the same key: a
 * key row added by someone without the master key is rejected, and so is anything it signed.
 */
export async function checkpointKeys(db: Db, masterKey?: MasterKey): Promise<CheckpointKeys> {
  const rows = await db
    .selectFrom('practice_keys')
    .select(['practice_id', 'fingerprint', 'public_key', 'sealed_private_key'])
    .where('purpose', '=', 'signing')
    .execute();
  const keys = new Map<string, { practiceId: string; key: PublicKey }>();
  const rejected: string[] = [];
  for (const r of rows) {
    try {
      const key = await loadPublicKey(r.public_key);
      if (fingerprintOf(key) !== r.fingerprint) throw new Error('fingerprint');
      if (masterKey) {
        const priv = await loadPrivateKey(masterKey, r.practice_id, 'signing', r.sealed_private_key);
        if (fingerprintOf(priv) !== r.fingerprint) throw new Error('pair');
      }
      keys.set(r.fingerprint, { practiceId: r.practice_id, key });
    } catch {
      rejected.push(r.fingerprint);
    }
  }
  return { keys, authenticated: masterKey !== undefined, rejected };
}

export type CheckedCheckpoint =
  { ok: true; statement: CheckpointStatement; fingerprint: string } | { ok: false };

/**
 * A signed statement checked against the trusted keys: valid when a key of the chain's own practice
 * signed exactly one statement (the deployment's own chain: any practice's key).
 */
export async function checkCheckpoint(signed: string, trusted: CheckpointKeys): Promise<CheckedCheckpoint> {
  const all = [...trusted.keys.values()].map((k) => k.key);
  const res = await verifyCleartext(signed, all);
  if (!res.ok) return { ok: false };
  const statement = parseCheckpointText(res.text);
  if (!statement) return { ok: false };
  const owner = practiceOfChain(statement.chain);
  const signer = trusted.keys.get(res.signerFingerprint);
  if (!signer || (owner !== null && signer.practiceId !== owner)) return { ok: false };
  return { ok: true, statement, fingerprint: res.signerFingerprint };
}

/**
 * Whether the store has the checkpoints table: a store not yet migrated by a server of this version
 * (an admin command runs no migrations) has none, and then holds no checkpoints.
 */
export async function checkpointsTableExists(db: Db): Promise<boolean> {
  try {
    await db.selectFrom('chain_checkpoints').select('id').limit(1).execute();
    return true;
  } catch {
    return false;
  }
}

const BLOCK_RE = /-----BEGIN PGP SIGNED MESSAGE-----[\s\S]*?-----END PGP SIGNATURE-----/g;

/** The cleartext-signed blocks in a file of kept checkpoints (`attune checkpoint` output). */
export function signedBlocks(text: string): string[] {
  return text.match(BLOCK_RE) ?? [];
}
