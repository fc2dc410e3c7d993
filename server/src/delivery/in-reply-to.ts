import { appendAudit, AUDIT } from '../audit/index.ts';
import type { Db } from '../store/index.ts';
import type { SendContext } from './send.ts';

/**
 * `inReplyTo` of a send (SendMessageRequest) names the message this one answers, for engagement
 * latency. It must be a message of the sender's practice: anything else (junk, an unknown id,
 * another practice's message) is refused as 400 validation_failed on the field, rather than stored
 * unchecked. Another practice's id answers exactly like an unknown one (no existence oracle) and is
 * audited as an authorization failure, like another practice's id in a path.
 */
export async function checkInReplyTo(
  db: Db,
  ctx: SendContext,
  inReplyTo: string,
): Promise<{ ok: false; code: 'validation_failed'; message: string } | null> {
  const ours = await db
    .selectFrom('messages')
    .select('id')
    .where('practice_id', '=', ctx.practiceId)
    .where('id', '=', inReplyTo)
    .executeTakeFirst();
  if (ours) return null;
  const elsewhere = await db
    .selectFrom('messages')
    .select('id')
    .where('id', '=', inReplyTo)
    .executeTakeFirst();
  if (elsewhere) {
    await appendAudit(db, {
      action: AUDIT.AUTHZ_FAILURE,
      outcome: 'failure',
      actor: { type: 'clinician', id: ctx.clinicianId },
      practiceId: ctx.practiceId,
      ip: ctx.ip ?? null,
      requestId: ctx.requestId ?? null,
      target: { type: 'message', id: elsewhere.id },
      details: { reason: 'other_practice', field: 'inReplyTo' },
    });
  }
  return {
    ok: false,
    code: 'validation_failed',
    message: 'Invalid request: inReplyTo: no message with that id in your practice.',
  };
}
