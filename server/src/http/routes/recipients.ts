import { RecipientPatientsRequestSchema, type RecipientPatientsResponse } from '@attune/shared/api';
import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import { requireClinician } from '../../identity/middleware.ts';
import { patientEmailsAmong } from '../../store/index.ts';
import { readJson } from '../validate.ts';
import type { RouteModule } from '../types.ts';

/**
 * POST /v1/recipients/patients {"emails": [...]}: the addresses among them that are patients of the
 * caller's practice. Whether someone is a patient is itself health information: the answer is
 * audited as a PHI read (counts only, never the addresses), and only the caller's practice is asked.
 */
export const recipients: RouteModule = {
  mount(app, deps) {
    const { db } = deps.store;
    app.post('/v1/recipients/patients', requireClinician(deps), async function recipientPatients(c) {
      const { emails } = await readJson(c, RecipientPatientsRequestSchema);
      const { practiceId } = c.get('auth');
      const asked = [...new Set(emails)];
      const known = await patientEmailsAmong(db, practiceId, asked);
      const patients = asked.filter((e) => known.has(e));
      await appendAudit(db, {
        ...auditContext(c),
        action: AUDIT.PHI_READ,
        outcome: 'success',
        target: { type: 'recipients', id: 'patient_status' },
        details: { asked: asked.length, patients: patients.length },
      });
      const body: RecipientPatientsResponse = { patients };
      return c.json(body);
    });
  },
};
