import type { Kysely } from 'kysely';
import type { Db } from '../store/index.ts';
import type { Database, MessagesTable, ViewerLinksTable } from '../store/schema.ts';

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
