import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertRow } from './compiled.ts';
import { createTestStore, dialectsUnderTest, type TestStore } from './testing.ts';

describe.each(dialectsUnderTest())('insertRow (SQL compiled once per shape) on %s', (dialect) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(dialect);
  });
  afterAll(async () => {
    await store?.cleanup();
  });

  const heads = () =>
    store.db.selectFrom('chain_heads').selectAll().where('chain', 'like', 'ir-%').orderBy('chain').execute();

  it('inserts each row with its own values, the first of a shape and the later ones alike, in and out of a transaction', async () => {
    await insertRow(store.db, 'chain_heads', { chain: 'ir-1', seq: 1, head: 'a' });
    await insertRow(store.db, 'chain_heads', { chain: 'ir-2', seq: 2, head: 'b' });
    // The same columns in another order: another shape, its own SQL.
    await insertRow(store.db, 'chain_heads', { head: 'c', seq: 3, chain: 'ir-3' });
    await store.db.transaction().execute(async (tx) => {
      await insertRow(tx, 'chain_heads', { chain: 'ir-4', seq: 4, head: 'd' });
      await insertRow(tx, 'chain_heads', { chain: 'ir-5', seq: 5, head: 'e' });
    });
    expect(await heads()).toEqual([
      { chain: 'ir-1', seq: 1, head: 'a' },
      { chain: 'ir-2', seq: 2, head: 'b' },
      { chain: 'ir-3', seq: 3, head: 'c' },
      { chain: 'ir-4', seq: 4, head: 'd' },
      { chain: 'ir-5', seq: 5, head: 'e' },
    ]);
  });

  it('rolls back with its transaction and reports constraint errors', async () => {
    await expect(
      store.db.transaction().execute(async (tx) => {
        await insertRow(tx, 'chain_heads', { chain: 'ir-6', seq: 6, head: 'f' });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await expect(insertRow(store.db, 'chain_heads', { chain: 'ir-1', seq: 9, head: 'z' })).rejects.toThrow();
    expect((await heads()).map((h) => h.chain)).toEqual(['ir-1', 'ir-2', 'ir-3', 'ir-4', 'ir-5']);
  });

  it('never reuses the SQL of a row whose values Kysely does not pass as plain parameters', async () => {
    // A raw SQL value (which insertRow's type does not offer, but a caller may cast to): the first
    // row compiles it into the statement; the next row must not get the first row's SQL with its
    // own values shifted into the wrong places.
    await insertRow(store.db, 'chain_heads', {
      chain: 'ir-7',
      seq: sql<number>`3 + 4` as unknown as number,
      head: 'g',
    });
    await insertRow(store.db, 'chain_heads', {
      chain: 'ir-8',
      seq: sql<number>`4 + 4` as unknown as number,
      head: 'h',
    });
    const rows = await heads();
    expect(rows.slice(-2)).toEqual([
      { chain: 'ir-7', seq: 7, head: 'g' },
      { chain: 'ir-8', seq: 8, head: 'h' },
    ]);
  });
});
