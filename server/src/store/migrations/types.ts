import type { Kysely } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

/**
 * A migration of the one schema. Migrations are numbered, additive (never edit a committed one;
 * add the next number) and see the dialect only to pick column types that differ (BLOB vs BYTEA).
 * `Kysely<any>`: a migration must not depend on today's row types, which describe the latest schema.
 */
export interface SchemaMigration {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  up(db: Kysely<any>, dialect: Dialect): Promise<void>;
}

/** Binary column type per dialect; both read back as a Buffer. */
export const blobType = (dialect: Dialect): 'blob' | 'bytea' => (dialect === 'postgres' ? 'bytea' : 'blob');
