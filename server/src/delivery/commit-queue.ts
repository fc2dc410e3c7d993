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
// the caller hears of it), but the loop keeps serving requests during the fsync, and the next
// group's transaction runs meanwhile (drain below: a send waits for one fsync, not for the previous
// group's as well). Syncs run one at a time in commit order, and a group resolves only when its
// own sync and every earlier group's have succeeded, so an outbox claim (which runs through this
// queue) never sends mail for a message that is not yet durable.
// Transactions outside this queue keep synchronous=FULL (and their fsync covers ours as well).
//
// A write that fails (e.g. an idempotency-key conflict) must not take its neighbours down: when a
// group's transaction fails, its writes are retried one by one, each in its own transaction, so
// each caller gets its own outcome.

type Write = {
  fn: (tx: Tx) => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
};

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
  /** Set while drain waits on a sync with nothing to commit: run() calls it on a new writer. */
  let wake: (() => void) | null = null;

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

  /** Commits one group; the writers whose writes are in the committed transaction, with their values. */
  async function commitGroup(group: Write[]): Promise<Array<{ w: Write; value: unknown }>> {
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
    return committed;
  }

  async function drain(): Promise<void> {
    // With syncWal the queue is a two-stage pipeline: while one group's WAL fsync runs on the
    // thread pool, the next group's transaction runs on the loop. Syncs themselves go one at a
    // time, in commit order, and a group's sync starts only after the previous group's sync has
    // succeeded: when a group resolves, every earlier group is durable too (an outbox claim never
    // sends mail for a message whose commit is not yet synced). A group committed behind a failed
    // sync is failed as well: its WAL frames follow frames not known to be on disk.
    let syncing: Promise<unknown> | null = null; // the previous group's sync: resolves true when durable
    let synced = false; // it has settled
    try {
      for (;;) {
        if (pending.length === 0) {
          if (syncing === null || synced) break;
          // Wait for the sync, or for a writer to arrive (run() calls wake) and start its group
          // while the sync goes on, gathering the writers of the same turn as on a first group.
          const arrived = new Promise<void>((r) => (wake = r));
          await Promise.race([syncing, arrived]);
          wake = null;
          if (pending.length > 0) await new Promise((r) => setImmediate(r));
          continue;
        }
        const committed = await commitGroup(pending.splice(0, maxBatch));
        if (!syncWal) {
          for (const { w, value } of committed) w.resolve(value);
          continue;
        }
        const previous = syncing;
        const previousOk = previous === null ? true : ((await previous) as boolean);
        syncing = null;
        if (committed.length === 0) continue;
        if (!previousOk) {
          const err = new Error('an earlier group commit could not be synced to disk');
          for (const { w } of committed) w.reject(err);
          continue;
        }
        synced = false;
        syncing = syncWal().then(
          () => {
            synced = true;
            for (const { w, value } of committed) w.resolve(value);
            return true;
          },
          (err: unknown) => {
            synced = true;
            // Committed, but not known to be durable: no writer may report success.
            for (const { w } of committed) w.reject(err);
            return false;
          },
        );
      }
    } finally {
      busy = false;
    }
  }

  return {
    run<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
        if (busy) {
          wake?.();
          return;
        }
        busy = true;
        // Start the group on the next turn of the event loop, not at once: writers whose
        // encryption or I/O has just completed reach the queue first and share the commit
        // (bench:server: without it every group was a single write).
        setImmediate(() => void drain());
      });
    },
  };
}
