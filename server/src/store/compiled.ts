import { CompiledQuery, type Insertable, type Kysely, type QueryResult, type Transaction } from 'kysely';

// The hot inserts (one of each per secure send: message, delivery, link, outbox row, engagement
// event, audit and archive entries) with their SQL compiled once. Kysely builds an operation tree
// and compiles it to SQL on every call, which was a fifth of the database work of a send
// (bench:server profile); for a one-row INSERT of plain values the SQL depends only on the table,
// the column list and the dialect, and the parameters are the row's values in column order.
//
// The first insert of a shape goes through Kysely's builder as before, and its compiled form is
// kept only if its parameters are exactly the row's values in order. Later inserts of the same
// shape whose values are all plain (strings, numbers, null, bytes) run that SQL with their own
// values, through the same connection or transaction, on either dialect; a row with any other
// value (e.g. a raw SQL expression) always goes through the builder.

/** A value every driver binds as it is: anything else (an SQL expression, a Date, an array) takes Kysely's way. */
function isPlain(v: unknown): boolean {
  return (
    v === null ||
    typeof v === 'string' ||
    typeof v === 'number' ||
    typeof v === 'bigint' ||
    v instanceof Uint8Array
  );
}

const compiled = new WeakMap<object, Map<string, string | null>>();

export async function insertRow<DB, T extends keyof DB & string>(
  db: Kysely<DB> | Transaction<DB>,
  table: T,
  row: Insertable<NoInfer<DB>[T]>,
): Promise<void> {
  const record = row as Record<string, unknown>;
  const columns = Object.keys(record).filter((k) => record[k] !== undefined);
  const values = columns.map((k) => record[k]);
  // One cache per dialect: the adapter is the dialect's, shared by a Kysely instance and its transactions.
  const adapter = db.getExecutor().adapter;
  let shapes = compiled.get(adapter);
  if (!shapes) {
    shapes = new Map();
    compiled.set(adapter, shapes);
  }
  const shape = `${table}\u0000${columns.join(',')}`;
  const sql = shapes.get(shape);
  if (typeof sql === 'string' && values.every(isPlain)) {
    await db.executeQuery(CompiledQuery.raw(sql, values));
    return;
  }
  const query = db.insertInto(table).values(row).compile();
  if (sql === undefined && values.every(isPlain)) {
    const plain =
      query.parameters.length === values.length && query.parameters.every((p, i) => p === values[i]);
    if (shapes.size < 200) shapes.set(shape, plain ? query.sql : null);
  }
  await db.executeQuery(query);
}

/**
 * A hot query whose SQL depends only on `key` (and the dialect), run with `values` as its
 * parameters. The first run builds it with Kysely (`build`, which must use exactly these values)
 * and keeps its SQL only if Kysely's parameters are `values` in that order; later runs with plain
 * values execute that SQL directly, skipping the operation tree and its compilation. A query whose
 * parameters are anything else (a literal Kysely binds, another order) always takes the builder.
 * The key names the query's shape: one that takes a list says how long it is.
 */
export async function runCompiled<R>(
  db: { getExecutor(): { adapter: object }; executeQuery<O>(q: CompiledQuery<O>): Promise<QueryResult<O>> },
  key: string,
  values: unknown[],
  build: () => { compile(): CompiledQuery<R> },
): Promise<R[]> {
  const adapter = db.getExecutor().adapter;
  let shapes = compiledQueries.get(adapter);
  if (!shapes) {
    shapes = new Map();
    compiledQueries.set(adapter, shapes);
  }
  const sql = shapes.get(key);
  if (typeof sql === 'string' && values.every(isPlain)) {
    return (await db.executeQuery<R>(CompiledQuery.raw(sql, values))).rows;
  }
  const query = build().compile();
  if (sql === undefined && values.every(isPlain)) {
    const plain =
      query.parameters.length === values.length && query.parameters.every((p, i) => p === values[i]);
    if (shapes.size < 200) shapes.set(key, plain ? query.sql : null);
  }
  return (await db.executeQuery(query)).rows;
}

const compiledQueries = new WeakMap<object, Map<string, string | null>>();
