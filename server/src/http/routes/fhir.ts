import { z } from 'zod';
import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import { FhirBundleSchema, importFhirBundleWithCare, type FhirImportResult } from '../../engagement/fhir.ts';
import { requireClinician } from '../../identity/middleware.ts';
import { careCaller } from '../not-in-care.ts';
import { readJson } from '../validate.ts';
import { errors, json, secured } from '../openapi-schema.ts';
import type { RouteModule } from '../types.ts';

const FhirImportIssueSchema = z
  .object({ entry: z.number().int(), resourceType: z.string(), reason: z.string() })
  .strict();
/** The response, for the OpenAPI document; `satisfies` below keeps it in step with FhirImportResult. */
export const FhirImportResultSchema = z
  .object({
    appointments: z.number().int(),
    accepted: z.number().int(),
    duplicates: z.number().int(),
    skipped: z.array(FhirImportIssueSchema),
    unmatched: z.array(FhirImportIssueSchema),
    invalid: z.array(FhirImportIssueSchema),
  })
  .strict();
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
const resultSchemaMatches: SameKeys<z.infer<typeof FhirImportResultSchema>, FhirImportResult> = true;
void resultSchemaMatches;

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
      const { practiceId, role, clinicianId } = c.get('auth');
      // Appointments come from the practice's scheduling system: an admin's import matches every
      // patient of the practice and puts the appointments' practitioners in their care teams
      // (engagement/fhir.ts), a clinician's matches only the patients they may see (store/care.ts)
      // and changes no care team.
      const opts =
        role === 'admin'
          ? { assignCare: { by: clinicianId, audit: auditContext(c) } }
          : { careOf: careCaller(c) };
      const result = await db.transaction().execute(async (tx) => {
        const { result: r, care } = await importFhirBundleWithCare(tx, practiceId, bundle, now(), opts);
        await appendAudit(tx, {
          ...auditContext(c),
          action: AUDIT.PHI_WRITE,
          outcome: 'success',
          target: { type: 'engagement_events', id: practiceId },
          details: {
            operation: 'fhir_import',
            appointments: r.appointments,
            accepted: r.accepted,
            duplicates: r.duplicates,
            unmatched: r.unmatched.length,
            invalid: r.invalid.length,
            care_joined: care.joined,
            without_care_team: care.withoutCareTeam,
          },
        });
        return r;
      });
      return c.json(result, result.accepted > 0 ? 201 : 200);
    });
  },
  openapi: {
    '/v1/fhir': {
      post: {
        summary:
          'Import a FHIR R4 Bundle of Patient and Appointment resources as engagement events (idempotent)',
        description:
          "Appointments are matched to your practice's patients by the Patient's email (a clinician's import: only the patients in their care, unless the policy's patientAccess is 'practice'; an admin's: every patient). Entries that could not be used are listed by index with a reason; the rest is imported. Larger bundles: `attune import fhir BUNDLE.json`.",
        security: secured,
        requestBody: {
          required: true,
          content: {
            ...json(FhirBundleSchema, 'input', 'application/fhir+json'),
            ...json(FhirBundleSchema, 'input'),
          },
        },
        responses: {
          '201': {
            description: 'At least one new event stored',
            content: json(FhirImportResultSchema, 'output'),
          },
          '200': {
            description: 'Nothing new stored (duplicates, or nothing usable)',
            content: json(FhirImportResultSchema, 'output'),
          },
          ...errors([400, 'invalid_json, validation_failed: not a Bundle'], 401, 413, 415, 429),
        },
      },
    },
  },
};
