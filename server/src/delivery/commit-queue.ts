import { sql } from 'kysely';
import { withHeldChainHeads } from '../audit/chain.ts';
import type { Db, Tx } from '../store/index.ts';

// Group commit. A durable 202 needs a synced commit; on SQLite with synchronous=FULL each commit
// costs an fsync (a few ms here), taken on the event loop by the synchronous driver. Writes that
// arrive while a commit is in flight queue up and go together in the next transaction: one fsync
// for the group, and every caller still resolves only after its own writes are durable.
//
// On SQLite (when the store offers `syncWal`) the group's fsync also leaves the event loop: the
// group commits with synchronous=NORMAL (WAL frames written, not yet synced), the connection goes
// back to FULL at once, and the WAL is fsynced on libuv's thread pool before any writer of the
// group resolves. That is the guarantee FULL gives (the WAL synced after the commit frame, before
// the caller hears of it), but the loop keeps serving requests during the fsync, and those form
// the next group. One group at a time: the next transaction starts only after the previous
// group's fsync, so anything committed-but-unsynced belongs to the group in hand, and an outbox
// claim (which runs through this queue) never sends mail for a message that is not yet durable.
// Transactions outside this queue keep synchronous=FULL (and their fsync covers ours as well).
//
// A write that fails (e.g. an idempotency-key conflict) must not take its neighbours down: when a
// group's transaction fails, its writes are retried one by one, each in its own transaction, so
// each caller gets its own outcome.

type Write = { fn: (tx: Tx) => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void };

export interface CommitQueue {
  run<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
}

export interface CommitQueueOptions {
  maxBatch?: number;
  /** SQLite: fsync the WAL off the event loop (Store.syncWal); commits then skip the inline fsync. */
  syncWal?: () => Promise<void>;
}

export function createCommitQueue(db: Db, opts: CommitQueueOptions = {}): CommitQueue {
  const maxBatch = opts.maxBatch ?? 64;
  const syncWal = opts.syncWal;
  const pending: Write[] = [];
  let busy = false;

  // One transaction. With syncWal: on one connection, NORMAL for this commit only, FULL restored
  // before the connection serves anyone else (the caller syncs the WAL before resolving anyone).
  // The group's appends to the audit and archive chains keep each chain's head in memory and
  // write it once at the end (audit/chain.ts withHeldChainHeads).
  const transact = <T>(body: (tx: Tx) => Promise<T>): Promise<T> => {
    const fn = (tx: Tx) => withHeldChainHeads(tx, () => body(tx));
    if (!syncWal) return db.transaction().execute(fn);
    return db.connection().execute(async (conn) => {
      await sql`pragma synchronous = NORMAL`.execute(conn);
      try {
        return await conn.transaction().execute(fn);
      } finally {
        await sql`pragma synchronous = FULL`.execute(conn);
      }
    });
  };

  async function drain(): Promise<void> {
    try {
      while (pending.length > 0) {
        const group = pending.splice(0, maxBatch);
        const committed: Array<{ w: Write; value: unknown }> = [];
        const alone = async (w: Write) => {
          try {
            committed.push({ w, value: await transact(w.fn) });
          } catch (err) {
            w.reject(err);
          }
        };
        if (group.length === 1) {
          await alone(group[0]!);
        } else {
          const results: unknown[] = [];
          try {
            await transact(async (tx) => {
              for (const w of group) results.push(await w.fn(tx));
            });
            group.forEach((w, i) => committed.push({ w, value: results[i] }));
          } catch {
            for (const w of group) await alone(w);
          }
        }
        if (syncWal && committed.length > 0) {
          try {
            await syncWal();
          } catch (err) {
            // Committed, but not known to be durable: no writer may report success.
            for (const { w } of committed) w.reject(err);
            continue;
          }
        }
        for (const { w, value } of committed) w.resolve(value);
      }
    } finally {
      busy = false;
    }
  }

  return {
    run<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
        if (busy) return;
        busy = true;
        // Start the group on the next turn of the event loop, not at once: writers whose
        // encryption or I/O has just completed reach the queue first and share the commit
        // (bench:server: without it every group was a single write).
        setImmediate(() => void drain());
      });
    },
  };
}
