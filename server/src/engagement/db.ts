import type { Kysely } from 'kysely';
import type { Db } from '../store/index.ts';
import type { Database } from '../store/schema.ts';

// Row types added by migration 0003-engagement (store/migrations/0003-engagement.ts), kept beside the
// code that owns them (as delivery/db.ts does); `edb()` views a store handle with them included.

export interface EngagementSettingsTable {
  practice_id: string;
  /** JSON of a partial shared TriageWeightsSchema (defaults fill the rest when read). */
  triage_weights: string;
  /** 1 when mailbox sync may read message bodies (crisis/inquiry/tone); 0 = metadata only. */
  mailbox_bodies: number;
  updated_at: string;
  updated_by: string | null;
}

export interface MailboxSyncTable {
  practice_id: string;
  /** The synced mailbox address (a clinician's), lower-case. */
  mailbox: string;
  /** 'gmail'. */
  provider: string;
  /** Gmail history id the next users.history.list starts from. */
  history_id: string | null;
  last_sync_at: string | null;
  /** PHI-free reason code of the last failure. */
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export interface EngagementDatabase extends Database {
  engagement_settings: EngagementSettingsTable;
  mailbox_sync: MailboxSyncTable;
}

export type EDb = Kysely<EngagementDatabase>;

/** The same handle, typed with the engagement tables; a transaction stays a transaction. */
export function edb(db: Db): EDb {
  return db as unknown as EDb;
}
