import type { Kysely } from 'kysely';
import { newId, type Db } from '../store/index.ts';
import type { Database, MessagesTable, OutboxTable, ViewerLinksTable } from '../store/schema.ts';

// Row types added by migration 0002-delivery (store/migrations/0002-delivery.ts). Kept beside the
// delivery code that owns them; `ddb()` views a store handle (or transaction) with them included.

export interface DeliveryAttemptsTable {
  id: string;
  practice_id: string;
  outbox_id: string;
  delivery_id: string | null;
  attempt: number;
  at: string;
  /** sent | retry | failed | skipped */
  outcome: string;
  /** PHI-free: SMTP status text with addresses redacted, or our reason code. */
  detail: string | null;
  duration_ms: number;
}

export interface DeliveryDatabase extends Omit<Database, 'messages' | 'viewer_links'> {
  messages: MessagesTable & { idempotency_key: string | null; request_hash: string | null };
  viewer_links: ViewerLinksTable & { otp_sends: number };
  delivery_attempts: DeliveryAttemptsTable;
}

export type DDb = Kysely<DeliveryDatabase>;

/** The same handle, typed with the delivery tables; a transaction stays a transaction. */
export function ddb(db: Db): DDb {
  return db as unknown as DDb;
}

/**
 * A new outbox row, waiting for its first claim (no attempts, unclaimed, not failed); `done_at` set
 * only for a row born done (a client-delivered notice). One place for the queue's starting state.
 */
export function queuedOutboxRow(
  r: Pick<
    OutboxTable,
    'id' | 'practice_id' | 'delivery_id' | 'kind' | 'payload_ref' | 'payload' | 'available_at' | 'created_at'
  > & { done_at?: string | null },
): OutboxTable {
  return {
    ...r,
    attempts: 0,
    claimed_by: null,
    claimed_until: null,
    done_at: r.done_at ?? null,
    permanent_failure: 0,
    last_error: null,
  };
}

/**
 * A new secure link: unopened, no one-time code yet, not revoked. One place for a link's starting
 * state (a send's links, and a PGP delivery falling back to a link: outbox.ts).
 */
export function newViewerLinkRow(
  r: Pick<
    ViewerLinksTable,
    | 'token_sha256'
    | 'reply_token_sha256'
    | 'practice_id'
    | 'delivery_id'
    | 'message_id'
    | 'expires_at'
    | 'created_at'
  >,
): ViewerLinksTable {
  return {
    id: newId(),
    ...r,
    otp_hash: null,
    otp_expires_at: null,
    otp_attempts: 0,
    otp_verified_at: null,
    first_opened_at: null,
    revoked_at: null,
  };
}
