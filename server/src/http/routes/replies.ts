import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import { deliveryFor, readReply } from '../../delivery/index.ts';
import { ContentUnreadable, logUnreadable } from '../../delivery/services.ts';
import { ApiError } from '../errors.ts';
import { requireClinician } from '../../identity/middleware.ts';
import { notInPractice } from '../not-in-practice.ts';
import { careCaller, notInCare } from '../not-in-care.ts';
import { mayReadMessage } from '../../store/index.ts';
import type { RouteModule } from '../types.ts';

const ID = /^[0-9a-f-]{36}$/;

/**
 * GET /v1/replies/:id: a patient's secure reply, decrypted for a clinician of the practice (the id
 * is the reference in the PHI-free reply notice, which is all that travels by email). Audited as a
 * PHI read; another practice's reply, or one the caller neither sent the message of nor cares for the
 * patient of (policy patientAccess 'care-team'), is a 404 like an unknown one, audited as an
 * authorization failure.
 */
export const replies: RouteModule = {
  mount(app, deps) {
    const { db } = deps.store;
    app.get('/v1/replies/:id', requireClinician(deps), async function getReply(c) {
      const id = c.req.param('id');
      const { practiceId } = c.get('auth');
      const svc = deliveryFor(deps).services;
      // Readable by the message's sender and the patient's care team (store/care.ts), checked
      // before anything is decrypted; anyone else gets the unknown id's answer.
      const owner = ID.test(id)
        ? await db
            .selectFrom('replies')
            .innerJoin('messages', 'messages.id', 'replies.message_id')
            .select(['replies.patient_id', 'messages.clinician_id'])
            .where('replies.id', '=', id)
            .where('replies.practice_id', '=', practiceId)
            .executeTakeFirst()
        : undefined;
      if (
        owner &&
        !(await mayReadMessage(db, careCaller(c), {
          senderId: owner.clinician_id,
          patientIds: [owner.patient_id],
        }))
      )
        return notInCare(c, db, {
          target: 'reply',
          id,
          code: 'reply_not_found',
          message: 'No reply with that reference in your practice.',
        });
      let reply;
      try {
        reply = ID.test(id) ? await readReply(svc, practiceId, id) : null;
      } catch (e) {
        if (!(e instanceof ContentUnreadable)) throw e;
        // Corrupted or replaced in the database: said plainly, logged for the operator by reference,
        // and the failed read audited. Quarantined by an admin (attune archive content-macs): a
        // known state, 410 with its own code, not a fault to log.
        const quarantined = e.reason === 'content_quarantined';
        if (!quarantined) logUnreadable(svc.logger, e, c.get('requestId'));
        await appendAudit(db, {
          ...auditContext(c),
          action: AUDIT.PHI_READ,
          outcome: 'failure',
          target: { type: 'reply', id },
          details: { reason: quarantined ? 'content_quarantined' : 'content_unreadable' },
        });
        if (quarantined)
          throw new ApiError(
            410,
            'content_quarantined',
            'This reply was quarantined by your administrator: its stored content could not be verified.',
          );
        throw new ApiError(
          500,
          'content_unreadable',
          'This reply is stored but cannot be read. Your administrator can check the archive with attune verify.',
        );
      }
      if (!reply)
        return notInPractice(c, db, {
          table: 'replies',
          id,
          valid: ID.test(id),
          target: 'reply',
          code: 'reply_not_found',
          message: 'No reply with that reference in your practice.',
        });
      await appendAudit(db, {
        ...auditContext(c),
        action: AUDIT.PHI_READ,
        outcome: 'success',
        target: { type: 'reply', id },
        details: { messageId: reply.messageId },
      });
      return c.json(reply);
    });
  },
};
