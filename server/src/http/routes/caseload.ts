import { z } from 'zod';
import { TriageWeightsSchema } from '@attune/shared/engagement';
import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import { EngagementEventCache } from '../../engagement/cache.ts';
import { engagementCacheFor, practiceCaseload } from '../../engagement/service.ts';
import { getTriageWeights, putTriageWeights } from '../../engagement/settings.ts';
import { requireAdmin, requireClinician } from '../../identity/middleware.ts';
import { validate } from '../validate.ts';
import { readJson } from '../validate.ts';
import type { RouteModule } from '../types.ts';

const Query = z
  .object({
    page: z.coerce.number().int().min(1).max(100_000).default(1),
    pageSize: z.coerce.number().int().min(1).max(500).default(50),
  })
  .strict();

/**
 * GET /v1/caseload?page=&pageSize=: the practice's patients ranked by need (first-person crisis
 * first, then the weighted score), each with its reasons. Audited as one phi.read listing the patient
 * ids on the page (references only).
 * GET /v1/caseload/weights: the practice's triage weights. PUT (admin): replace them (validated by
 * the shared TriageWeightsSchema; omitted fields take their defaults), audited as a policy change.
 */
export const caseload: RouteModule = {
  mount(app, deps) {
    const { db } = deps.store;
    const now = deps.now ?? (() => new Date());
    const cache = engagementCacheFor(deps.services, () => new EngagementEventCache());

    app.get('/v1/caseload', requireClinician(deps), async function getCaseload(c) {
      const q = validate(Query, c.req.query());
      const { practiceId } = c.get('auth');
      const body = await practiceCaseload(db, practiceId, now(), q.page, q.pageSize, cache);
      await appendAudit(db, {
        ...auditContext(c),
        action: AUDIT.PHI_READ,
        outcome: 'success',
        target: { type: 'caseload', id: practiceId },
        details: { view: 'caseload', page: body.page, count: body.items.length, patients: body.items.map((i) => i.patientId).join(',') },
      });
      c.header('Cache-Control', 'no-store');
      return c.json(body);
    });

    app.get('/v1/caseload/weights', requireClinician(deps), async function getWeights(c) {
      return c.json(await getTriageWeights(db, c.get('auth').practiceId));
    });

    app.put('/v1/caseload/weights', requireAdmin(deps), async function putWeights(c) {
      const weights = await readJson(c, TriageWeightsSchema);
      const { practiceId, clinicianId } = c.get('auth');
      await db.transaction().execute(async (tx) => {
        await putTriageWeights(tx, practiceId, weights, clinicianId, now());
        await appendAudit(tx, {
          ...auditContext(c),
          action: AUDIT.POLICY_CHANGE,
          outcome: 'success',
          target: { type: 'triage_weights', id: practiceId },
          details: Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, v])),
        });
      });
      return c.json(weights);
    });
  },
};
