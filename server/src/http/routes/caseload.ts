import { z } from 'zod';
import { CaseloadSchema } from '@attune/shared/api';
import { TriageWeightsSchema } from '@attune/shared/engagement';
import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import { EngagementEventCache } from '../../engagement/cache.ts';
import { engagementCacheFor, practiceCaseload } from '../../engagement/service.ts';
import { getTriageWeights, putTriageWeights } from '../../engagement/settings.ts';
import { requireAdmin, requireClinician } from '../../identity/middleware.ts';
import { forbidden } from '../errors.ts';
import { practiceWideAccess } from '../../store/index.ts';
import { validate } from '../validate.ts';
import { readJson } from '../validate.ts';
import { errors, json, queryParams, secured } from '../openapi-schema.ts';
import type { RouteModule } from '../types.ts';

const Query = z
  .object({
    page: z.coerce.number().int().min(1).max(100_000).default(1),
    pageSize: z.coerce.number().int().min(1).max(500).default(50),
    /** mine: the patients in your care (everyone's under practice-wide access); practice: admins only. */
    scope: z.enum(['mine', 'practice']).default('mine'),
  })
  .strict();

/**
 * GET /v1/caseload?page=&pageSize=&scope=: the caller's patients ranked by need (first-person crisis
 * first, then the weighted score), each with its reasons. "The caller's": those in their care
 * (store/care.ts), or the whole practice under policy patientAccess 'practice'; `scope=practice`
 * asks for the whole practice whatever the policy (admins only; others 403, audited). Audited as one phi.read listing the patient
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
      const { practiceId, clinicianId, role } = c.get('auth');
      if (q.scope === 'practice' && role !== 'admin') {
        await appendAudit(db, {
          ...auditContext(c),
          action: AUDIT.AUTHZ_FAILURE,
          outcome: 'failure',
          target: { type: 'caseload', id: practiceId },
          details: { required: 'admin', scope: 'practice' },
        });
        throw forbidden("The whole practice's caseload is for practice administrators.");
      }
      const everyone = q.scope === 'practice' || (await practiceWideAccess(db, practiceId));
      const body = await practiceCaseload(
        db,
        practiceId,
        now(),
        q.page,
        q.pageSize,
        cache,
        everyone ? undefined : clinicianId,
      );
      await appendAudit(db, {
        ...auditContext(c),
        action: AUDIT.PHI_READ,
        outcome: 'success',
        target: { type: 'caseload', id: practiceId },
        details: {
          view: 'caseload',
          scope: q.scope,
          page: body.page,
          count: body.items.length,
          patients: body.items.map((i) => i.patientId).join(','),
        },
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
  openapi: {
    '/v1/caseload': {
      get: {
        summary:
          "Your patients (those in your care; the whole practice under policy patientAccess 'practice', or with scope=practice for admins) ranked by need (first-person crisis first, then the weighted score), with reasons",
        security: secured,
        parameters: queryParams(Query),
        responses: {
          '200': { description: 'One page of the ranked caseload', content: json(CaseloadSchema, 'output') },
          ...errors(
            [400, 'validation_failed: page or pageSize out of range, or an unknown query parameter'],
            401,
            [403, 'forbidden: scope=practice is for practice admins'],
            429,
          ),
        },
      },
    },
    '/v1/caseload/weights': {
      get: {
        summary: "Your practice's triage weights",
        security: secured,
        responses: {
          '200': {
            description: 'The weights (defaults where never set)',
            content: json(TriageWeightsSchema, 'output'),
          },
          ...errors(401, 429),
        },
      },
      put: {
        summary: 'Replace the triage weights (practice admins; omitted fields take their defaults); audited',
        security: secured,
        requestBody: { required: true, content: json(TriageWeightsSchema, 'input') },
        responses: {
          '200': { description: 'The stored weights', content: json(TriageWeightsSchema, 'output') },
          ...errors(
            [400, 'invalid_json, validation_failed'],
            401,
            [403, 'forbidden: practice admins only'],
            413,
            415,
            429,
          ),
        },
      },
    },
  },
};
