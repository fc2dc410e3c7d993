import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import { deliveryFor, readReply } from '../../delivery/index.ts';
import { ContentUnreadable, logUnreadable } from '../../delivery/services.ts';
import { ApiError } from '../errors.ts';
import { requireClinician } from '../../identity/middleware.ts';
import { notInPractice } from '../not-in-practice.ts';
import type { RouteModule } from '../types.ts';

const ID = /^[0-9a-f-]{36}$/;

/**
 * GET /v1/replies/:id: a patient's secure reply, decrypted for a clinician of the practice (the id
 * is the reference in the PHI-free reply notice, which is all that travels by email). Audited as a
 * PHI read; another practice's reply is a 404 like an unknown one, audited as an authorization failure.
 */
export const replies: RouteModule = {
  mount(app, deps) {
    const { db } = deps.store;
    app.get('/v1/replies/:id', requireClinician(deps), async function getReply(c) {
      const id = c.req.param('id');
      const { practiceId } = c.get('auth');
      const svc = deliveryFor(deps).services;
      let reply;
      try {
        reply = ID.test(id) ? await readReply(svc, practiceId, id) : null;
      } catch (e) {
        if (!(e instanceof ContentUnreadable)) throw e;
        // Corrupted or replaced in the database: said plainly, logged for the operator by reference,
        // and the failed read audited.
        logUnreadable(svc.logger, e, c.get('requestId'));
        await appendAudit(db, {
          ...auditContext(c),
          action: AUDIT.PHI_READ,
          outcome: 'failure',
          target: { type: 'reply', id },
          details: { reason: 'content_unreadable' },
        });
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
