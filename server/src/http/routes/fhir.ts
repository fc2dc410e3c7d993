import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import { FhirBundleSchema, importFhirBundle } from '../../engagement/fhir.ts';
import { requireClinician } from '../../identity/middleware.ts';
import { readJson } from '../validate.ts';
import type { RouteModule } from '../types.ts';

/**
 * POST /v1/fhir: a FHIR R4 Bundle (application/fhir+json or application/json) of Patient and
 * Appointment resources; appointments become engagement events of the practice's patients, matched
 * by the Patient's email (see engagement/fhir.ts for the status mapping). Idempotent. Entries that
 * could not be used are listed by index with a reason; the request still succeeds for the rest.
 * Bundles larger than MAX_BODY_BYTES go through `attune import fhir BUNDLE.json`.
 */
export const fhir: RouteModule = {
  mount(app, deps) {
    const { db } = deps.store;
    const now = deps.now ?? (() => new Date());
    app.post('/v1/fhir', requireClinician(deps), async function importFhir(c) {
      const bundle = await readJson(c, FhirBundleSchema);
      const { practiceId } = c.get('auth');
      const result = await db.transaction().execute(async (tx) => {
        const r = await importFhirBundle(tx, practiceId, bundle, now());
        await appendAudit(tx, {
          ...auditContext(c),
          action: AUDIT.PHI_WRITE,
          outcome: 'success',
          target: { type: 'engagement_events', id: practiceId },
          details: { operation: 'fhir_import', appointments: r.appointments, accepted: r.accepted, duplicates: r.duplicates, unmatched: r.unmatched.length, invalid: r.invalid.length },
        });
        return r;
      });
      return c.json(result, result.accepted > 0 ? 201 : 200);
    });
  },
};
