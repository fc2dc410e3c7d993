import { createHash } from 'node:crypto';
import type { Db } from '../store/index.ts';
import { runCompiled } from '../store/compiled.ts';

// Hash chains (notes/security.md, "Tamper-evident archives"): entry i stores
//   h_i = SHA-256(h_{i-1} ‖ canonical(entry_i)),  h_0 = 32 zero bytes,
// so editing, reordering or deleting any entry breaks every later hash. The chain head (seq and
// last hash) lives in one chain_heads row; appending first bumps that row with an UPDATE, which
// takes the row lock on PostgreSQL (held to commit) and the write lock on SQLite, so concurrent
// appenders queue up instead of forking the chain.

export const GENESIS_HASH = '0'.repeat(64);

/** Deterministic JSON: keys sorted at every level, no whitespace. Values are strings, numbers, null. */
export function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

export function chainHash(prevHash: string, canonicalEntry: string): string {
  return createHash('sha256')
    .update(Buffer.from(prevHash, 'hex'))
    .update(canonicalEntry, 'utf8')
    .digest('hex');
}

export interface ChainSlot {
  seq: number;
  prevHash: string;
}

/**
 * Reserves the next slot of `chain` inside `tx` and records the new head. `write` inserts the entry
 * for that slot and returns its hash. Must run inside the caller's transaction, so the entry, the
 * head and the caller's own writes commit or roll back together.
 */
export async function appendToChain(
  tx: Db,
  chain: string,
  write: (slot: ChainSlot) => Promise<string>,
): Promise<ChainSlot & { hash: string }> {
  // The head lock is held to commit; outside a transaction it would be released at once.
  if (!tx.isTransaction) throw new Error('appendToChain must run inside a transaction');
  const batch = heldHeads.get(tx);
  const held = batch?.get(chain);
  if (held) {
    // This transaction already holds the head (its lock and its latest value): no need to read it.
    const slot = { seq: held.seq + 1, prevHash: held.head };
    const hash = await write(slot);
    held.seq = slot.seq;
    held.head = hash;
    return { ...slot, hash };
  }
  let head = await bump(tx, chain);
  if (!head) {
    await tx
      .insertInto('chain_heads')
      .values({ chain, seq: 0, head: GENESIS_HASH })
      .onConflict((oc) => oc.column('chain').doNothing())
      .execute();
    head = await bump(tx, chain);
    if (!head) throw new Error(`chain head ${chain} could not be created`);
  }
  const slot = { seq: head.seq, prevHash: head.head };
  const hash = await write(slot);
  if (batch) batch.set(chain, { seq: slot.seq, head: hash });
  else await tx.updateTable('chain_heads').set({ head: hash }).where('chain', '=', chain).execute();
  return { ...slot, hash };
}

// Chain heads held for the rest of a transaction (withHeldChainHeads). A group commit appends many
// entries to the same chains in one transaction (delivery/commit-queue.ts): the first append of
// each chain reads and locks its head as above, the later ones take the head from memory, and the
// new heads are written once, just before the commit. Entries and hashes are exactly those of
// appending one by one; only the head row is written once per chain instead of twice per entry.
const heldHeads = new WeakMap<Db, Map<string, { seq: number; head: string }>>();

/**
 * Runs `fn` (the body of transaction `tx`) with the chain heads it appends to held in memory, and
 * records them in chain_heads when it completes, inside `tx`. Every append in `fn` must go through
 * this `tx` handle (as every write of a transaction must). If `fn` throws, nothing is recorded and
 * the caller rolls the transaction back.
 */
export async function withHeldChainHeads<T>(tx: Db, fn: () => Promise<T>): Promise<T> {
  if (!tx.isTransaction) throw new Error('withHeldChainHeads must run inside a transaction');
  if (heldHeads.has(tx)) return fn();
  const heads = new Map<string, { seq: number; head: string }>();
  heldHeads.set(tx, heads);
  try {
    const result = await fn();
    for (const [chain, h] of heads) {
      await runCompiled(tx, 'chain:put-head', [h.seq, h.head, chain], () =>
        tx.updateTable('chain_heads').set({ seq: h.seq, head: h.head }).where('chain', '=', chain),
      );
    }
    return result;
  } finally {
    heldHeads.delete(tx);
  }
}

async function bump(tx: Db, chain: string): Promise<{ seq: number; head: string } | undefined> {
  const [row] = await runCompiled(tx, 'chain:bump', [1, chain], () =>
    tx
      .updateTable('chain_heads')
      .set((eb) => ({ seq: eb('seq', '+', 1) }))
      .where('chain', '=', chain)
      .returning(['seq', 'head']),
  );
  return row;
}
