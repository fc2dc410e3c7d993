import type { Context } from 'hono';
import { z } from 'zod';
import { EngagementSchema } from '@attune/shared/api';
import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import type { MasterKey } from '../../crypto/index.ts';
import { chartKeys, signChartUrl, type ChartKeys } from '../../engagement/charts.ts';
import { EngagementEventCache } from '../../engagement/cache.ts';
import { engagementCacheFor, patientEngagement } from '../../engagement/service.ts';
import { mailboxBodiesEnabled, setMailboxBodies } from '../../engagement/settings.ts';
import { requireAdmin, requireClinician } from '../../identity/middleware.ts';
import { findPatient, findPatientByEmail, maySeePatient, type Db } from '../../store/index.ts';
import type { PatientsTable } from '../../store/schema.ts';
import { ApiError } from '../errors.ts';
import { careCaller, notInCare } from '../not-in-care.ts';
import { readJson, validate } from '../validate.ts';
import { errors, json, pathParam, secured } from '../openapi-schema.ts';
import type { AppDeps, AppEnv, RouteModule } from '../types.ts';

const ID = /^[A-Za-z0-9_.:-]{1,200}$/;
const Email = z.email().max(320);
export const EngagementLookupRequestSchema = z.object({ email: Email }).strict();
/** GET/PUT /v1/engagement/settings: whether mailbox sync may read message bodies (default off). */
export const EngagementSettingsSchema = z.object({ mailboxBodies: z.boolean() }).strict();

/** Chart URL keys from the master key (shared by every process); see engagement/charts.ts. */
export function chartKeysFor(deps: AppDeps): ChartKeys {
  const existing = deps.services?.['chartKeys'] as ChartKeys | undefined;
  if (existing) return existing;
  const keys = chartKeys(deps.services?.['masterKey'] as MasterKey | undefined);
  if (deps.services) deps.services['chartKeys'] = keys;
  return keys;
}

const notFound = () => new ApiError(404, 'patient_not_found', 'No patient with that id in your practice.');

/**
 * The sidebar's data for one patient:
 *  GET  /v1/patients/:id/engagement
 *  GET  /v1/patients/by-email/:email/engagement  (URL-encoded; an email in a path is an identifier
 *       that proxies and browser history may keep, so add-ins should prefer the POST below)
 *  POST /v1/engagement/lookup {"email": "..."}   (same response; the email stays in the body)
 *  GET/PUT /v1/engagement/settings {"mailboxBodies": false}  (PUT: admin)
 * A patient of another practice, or outside the caller's care team (policy patientAccess
 * 'care-team'), is a 404 exactly like an unknown one, audited as an authorization failure (so the
 * sidebars show "not a patient", and the signed chart URL is never issued). Every successful read is audited as phi.read with the patient id (never the email).
 * The response's charts carry the SVGs inline and `pngUrl`, a signed URL valid for minutes.
 */
export const engagement: RouteModule = {
  mount(app, deps) {
    const { db } = deps.store;
    const now = deps.now ?? (() => new Date());
    const auth = requireClinician(deps);
    const keys = chartKeysFor(deps);
    const cache = engagementCacheFor(deps.services, () => new EngagementEventCache());

    async function respond(
      c: Context<AppEnv>,
      row: PatientsTable | undefined,
      probe: (db: Db) => Promise<{ id: string } | undefined>,
    ) {
      if (!row) {
        const elsewhere = await probe(db);
        if (elsewhere) {
          await appendAudit(db, {
            ...auditContext(c),
            action: AUDIT.AUTHZ_FAILURE,
            outcome: 'failure',
            target: { type: 'patient', id: elsewhere.id },
            details: { reason: 'other_practice', view: 'engagement' },
          });
        }
        throw notFound();
      }
      if (!(await maySeePatient(db, careCaller(c), row.id)))
        return notInCare(c, db, {
          target: 'patient',
          id: row.id,
          code: 'patient_not_found',
          message: 'No patient with that id in your practice.',
          details: { view: 'engagement' },
        });
      const { practiceId } = c.get('auth');
      const t = now();
      const pngUrl = signChartUrl(keys, deps.config.publicUrl, { practiceId, patientId: row.id }, t);
      const body = await patientEngagement(db, practiceId, row, t, { pngUrl, cache });
      await appendAudit(db, {
        ...auditContext(c),
        action: AUDIT.PHI_READ,
        outcome: 'success',
        target: { type: 'patient', id: row.id },
        details: { view: 'engagement' },
      });
      c.header('Cache-Control', 'no-store');
      return c.json(body);
    }

    app.get('/v1/patients/:id/engagement', auth, async function getEngagement(c) {
      const id = c.req.param('id');
      if (!ID.test(id)) throw notFound();
      const row = await findPatient(db, c.get('auth').practiceId, id);
      return respond(c, row, (d) =>
        d.selectFrom('patients').select('id').where('id', '=', id).executeTakeFirst(),
      );
    });

    const byEmail = async (c: Context<AppEnv>, email: string) => {
      const normalized = email.trim().toLowerCase();
      const row = await findPatientByEmail(db, c.get('auth').practiceId, normalized);
      return respond(c, row, (d) =>
        d.selectFrom('patients').select('id').where('email', '=', normalized).executeTakeFirst(),
      );
    };

    app.get('/v1/patients/by-email/:email/engagement', auth, async function getEngagementByEmail(c) {
      // Deprecated (RFC 9745; date 2026-11-22) for POST /v1/engagement/lookup, said on every answer
      // so clients learn it at run time, not only from /openapi.json.
      c.header('Deprecation', '@1795305600');
      c.header('Link', '</v1/engagement/lookup>; rel="successor-version"');
      const email = validate(Email, c.req.param('email'));
      return byEmail(c, email);
    });

    app.post('/v1/engagement/lookup', auth, async function lookupEngagement(c) {
      const { email } = await readJson(c, EngagementLookupRequestSchema);
      return byEmail(c, email);
    });

    app.get('/v1/engagement/settings', auth, async function getEngagementSettings(c) {
      return c.json({ mailboxBodies: await mailboxBodiesEnabled(db, c.get('auth').practiceId) });
    });

    // Body reading widens what mailbox sync touches (and needs the gmail.readonly scope): an admin
    // decision, audited like a policy change.
    app.put('/v1/engagement/settings', requireAdmin(deps), async function putEngagementSettings(c) {
      const next = await readJson(c, EngagementSettingsSchema);
      const { practiceId, clinicianId } = c.get('auth');
      await db.transaction().execute(async (tx) => {
        await setMailboxBodies(tx, practiceId, next.mailboxBodies, clinicianId, now());
        await appendAudit(tx, {
          ...auditContext(c),
          action: AUDIT.POLICY_CHANGE,
          outcome: 'success',
          target: { type: 'engagement_settings', id: practiceId },
          details: { mailboxBodies: next.mailboxBodies },
        });
      });
      return c.json(next);
    });
  },
  openapi: openapiPaths(),
};

function openapiPaths(): Record<string, unknown> {
  const engagementOk = {
    '200': {
      description:
        'Engagement summary, timeline, alerts and charts (inline SVG, and `pngUrl`: a signed URL valid for minutes)',
      content: json(EngagementSchema, 'output'),
    },
  };
  const notOurs: [number, string] = [
    404,
    'patient_not_found (also for a patient of another practice, audited)',
  ];
  const settings = json(EngagementSettingsSchema, 'output');
  return {
    '/v1/patients/{id}/engagement': {
      get: {
        summary: 'Engagement of one patient of your practice (the sidebar data); audited as phi.read',
        security: secured,
        parameters: [pathParam('id', 'Attune patient id')],
        responses: { ...engagementOk, ...errors(401, notOurs, 429) },
      },
    },
    '/v1/patients/by-email/{email}/engagement': {
      get: {
        summary: 'Engagement of a patient by email (deprecated: use POST /v1/engagement/lookup)',
        description:
          'Deprecated: an email address in a URL is an identifier that proxies, access logs and browser history keep. Use POST /v1/engagement/lookup, which takes the address in the body and answers the same.',
        deprecated: true,
        security: secured,
        parameters: [pathParam('email', "The patient's email address, URL-encoded")],
        responses: {
          '200': {
            ...engagementOk['200'],
            headers: {
              Deprecation: {
                description: 'RFC 9745: deprecated since this date',
                schema: { type: 'string' },
              },
              Link: {
                description: 'rel="successor-version": POST /v1/engagement/lookup',
                schema: { type: 'string' },
              },
            },
          },
          ...errors([400, 'validation_failed: not an email address'], 401, notOurs, 429),
        },
      },
    },
    '/v1/engagement/lookup': {
      post: {
        summary:
          'Engagement of a patient of your practice by email (the address stays in the body); audited as phi.read',
        security: secured,
        requestBody: { required: true, content: json(EngagementLookupRequestSchema, 'input') },
        responses: {
          ...engagementOk,
          ...errors([400, 'invalid_json, validation_failed'], 401, notOurs, 413, 415, 429),
        },
      },
    },
    '/v1/engagement/settings': {
      get: {
        summary: 'Whether mailbox sync may read message bodies (default off)',
        security: secured,
        responses: { '200': { description: 'The settings', content: settings }, ...errors(401, 429) },
      },
      put: {
        summary: 'Allow or forbid reading message bodies in mailbox sync (practice admins); audited',
        security: secured,
        requestBody: { required: true, content: json(EngagementSettingsSchema, 'input') },
        responses: {
          '200': { description: 'The stored settings', content: settings },
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
  };
}
