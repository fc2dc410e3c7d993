import type { Context } from 'hono';
import type { Db } from '../store/index.ts';
import { newId, nowIso } from '../store/index.ts';
import { insertRow } from '../store/compiled.ts';
import type { AuditEventsTable } from '../store/schema.ts';
import { appendToChain, canonical, chainHash } from './chain.ts';
import type { AuditEventInput } from './events.ts';

/** Events without a practice (e.g. a token of no known practice) go to the system chain. */
export const AUDIT_CHAIN = 'audit';

/**
 * One audit chain per practice (`audit:<practiceId>`), so practices never wait on each other's chain
 * head when several server processes share one PostgreSQL, and a practice's trail verifies alone.
 */
export const auditChain = (practiceId: string | null | undefined): string =>
  practiceId ? `${AUDIT_CHAIN}:${practiceId}` : AUDIT_CHAIN;

/** The hashed part of an audit row: every column but the hashes themselves. */
export function auditCanonical(row: Omit<AuditEventsTable, 'hash' | 'prev_hash'>): string {
  return canonical({
    id: row.id,
    chain: row.chain,
    seq: row.seq,
    at: row.at,
    action: row.action,
    outcome: row.outcome,
    actor_type: row.actor_type,
    actor_id: row.actor_id,
    practice_id: row.practice_id,
    ip: row.ip,
    request_id: row.request_id,
    target_type: row.target_type,
    target_id: row.target_id,
    details: row.details,
  });
}

/**
 * Appends one audit event to the hash chain, inside the caller's transaction when given one (so
 * the event commits with the action it records) or in its own transaction otherwise.
 */
export async function appendAudit(
  tx: Db,
  event: AuditEventInput,
): Promise<{ id: string; seq: number; hash: string }> {
  // Every write below must go through the transaction's handle: on SQLite the plain handle waits
  // for the connection the transaction holds (a deadlock).
  if (!tx.isTransaction) return tx.transaction().execute((inner) => appendAudit(inner, event));
  const id = newId();
  const chain = auditChain(event.practiceId);
  const result = await appendToChain(tx, chain, async ({ seq, prevHash }) => {
    const row = {
      id,
      chain,
      seq,
      at: nowIso(event.at),
      action: event.action,
      outcome: event.outcome,
      actor_type: event.actor.type,
      actor_id: event.actor.id ?? null,
      practice_id: event.practiceId ?? null,
      ip: event.ip ?? null,
      request_id: event.requestId ?? null,
      target_type: event.target?.type ?? null,
      target_id: event.target?.id ?? null,
      details: canonical(event.details ?? {}),
    };
    const hash = chainHash(prevHash, auditCanonical(row));
    await insertRow(tx, 'audit_events', { ...row, prev_hash: prevHash, hash });
    return hash;
  });
  return { id, seq: result.seq, hash: result.hash };
}

/** The who/where/request-id part of an audit event, from a request that passed requireClinician. */
export function auditContext(c: Context): Pick<AuditEventInput, 'actor' | 'practiceId' | 'ip' | 'requestId'> {
  const auth = c.get('auth') as { practiceId: string; clinicianId: string } | undefined;
  return {
    actor: auth ? { type: 'clinician', id: auth.clinicianId } : { type: 'anonymous' },
    practiceId: auth?.practiceId ?? null,
    ip: (c.get('ip') as string | undefined) ?? null,
    requestId: (c.get('requestId') as string | undefined) ?? null,
  };
}
