import type { Context } from 'hono';
import { z } from 'zod';
import { CareTeamSchema, type CareTeam } from '@attune/shared/api';
import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import { requireAdmin } from '../../identity/middleware.ts';
import {
  joinCare,
  careTeam,
  findPatient,
  nowIso,
  practiceWideAccess,
  removeCare,
  type Db,
} from '../../store/index.ts';
import { ApiError } from '../errors.ts';
import { notInPractice } from '../not-in-practice.ts';
import { validate } from '../validate.ts';
import { errors, json, pathParam, secured } from '../openapi-schema.ts';
import type { AppEnv, RouteModule } from '../types.ts';

export { CareTeamSchema };

const ID = /^[0-9a-f-]{36}$/;
/** A clinician's address (staff, not a patient: no PHI in the path). */
const ClinicianEmail = z.string().trim().toLowerCase().pipe(z.email().max(254));

async function patientOf(c: Context<AppEnv>, db: Db) {
  const id = c.req.param('id') ?? '';
  const row = ID.test(id) ? await findPatient(db, c.get('auth').practiceId, id) : undefined;
  if (!row)
    return notInPractice(c, db, {
      table: 'patients',
      id,
      valid: ID.test(id),
      target: 'patient',
      code: 'patient_not_found',
      message: 'No patient with that id in your practice.',
    });
  return row;
}

async function clinicianOf(c: Context<AppEnv>, db: Db, opts: { enabledOnly: boolean }) {
  const email = validate(ClinicianEmail, c.req.param('email'));
  let q = db
    .selectFrom('clinicians')
    .select('id')
    .where('practice_id', '=', c.get('auth').practiceId)
    .where('email', '=', email);
  if (opts.enabledOnly) q = q.where('disabled', '=', 0);
  const row = await q.executeTakeFirst();
  if (!row)
    throw new ApiError(
      404,
      'clinician_not_found',
      'No clinician with that email has signed in to your practice (a clinician is known after their first sign-in).',
    );
  return row.id;
}

async function teamOf(db: Db, practiceId: string, patientId: string): Promise<CareTeam> {
  const [members, everyone] = await Promise.all([
    careTeam(db, practiceId, patientId),
    practiceWideAccess(db, practiceId),
  ]);
  return { patientId, patientAccess: everyone ? 'practice' : 'care-team', members };
}

/**
 * A patient's care team (store/care.ts), managed by practice admins:
 *  GET    /v1/patients/:id/care-team           the members, how and when each joined (phi.read)
 *  PUT    /v1/patients/:id/care-team/:email    add a clinician (source 'assigned'); idempotent
 *  DELETE /v1/patients/:id/care-team/:email    remove a clinician; idempotent
 * Clinicians are named by email and must have signed in once. Changes are audited as care.change
 * with references only (patient id, clinician id). Another practice's patient is a 404 like an
 * unknown one, audited (not-in-practice.ts). Admins manage any patient of their practice here,
 * whether or not they are in its care team themselves.
 */
export const careTeamRoutes: RouteModule = {
  mount(app, deps) {
    const { db } = deps.store;
    const admin = requireAdmin(deps);
    const now = deps.now ?? (() => new Date());

    app.get('/v1/patients/:id/care-team', admin, async function getCareTeam(c) {
      const patient = await patientOf(c, db);
      const body = await teamOf(db, patient.practice_id, patient.id);
      await appendAudit(db, {
        ...auditContext(c),
        action: AUDIT.PHI_READ,
        outcome: 'success',
        target: { type: 'patient', id: patient.id },
        details: { view: 'care_team', members: body.members.length },
      });
      c.header('Cache-Control', 'no-store');
      return c.json(body);
    });

    const change = (operation: 'add' | 'remove') =>
      async function changeCareTeam(c: Context<AppEnv>) {
        const patient = await patientOf(c, db);
        const clinicianId = await clinicianOf(c, db, { enabledOnly: operation === 'add' });
        const { practiceId, clinicianId: adminId } = c.get('auth');
        await db.transaction().execute(async (tx) => {
          const changed =
            operation === 'add'
              ? await joinCare(tx, {
                  practiceId,
                  clinicianId,
                  patientId: patient.id,
                  source: 'assigned',
                  at: nowIso(now()),
                  by: adminId,
                })
              : await removeCare(tx, practiceId, clinicianId, patient.id);
          await appendAudit(tx, {
            ...auditContext(c),
            action: AUDIT.CARE_CHANGE,
            outcome: 'success',
            target: { type: 'patient', id: patient.id },
            details: { operation, clinicianId, changed },
          });
        });
        c.header('Cache-Control', 'no-store');
        return c.json(await teamOf(db, practiceId, patient.id));
      };

    app.put('/v1/patients/:id/care-team/:email', admin, change('add'));
    app.delete('/v1/patients/:id/care-team/:email', admin, change('remove'));
  },
  openapi: openapiPaths(),
};

function openapiPaths(): Record<string, unknown> {
  const params = [pathParam('id', 'Attune patient id')];
  const withEmail = [
    ...params,
    pathParam('email', "The clinician's email address (a member of your practice), URL-encoded"),
  ];
  const ok = (description: string) => ({
    '200': { description, content: json(CareTeamSchema, 'output') },
  });
  const notOurs: [number, string] = [
    404,
    'patient_not_found (also for a patient of another practice, audited)',
  ];
  const changeErrors = errors(
    [400, 'validation_failed: not an email address'],
    401,
    [403, 'forbidden: practice admins only'],
    [
      404,
      'patient_not_found (also for a patient of another practice, audited); clinician_not_found: no clinician of your practice has signed in with that email',
    ],
    429,
  );
  return {
    '/v1/patients/{id}/care-team': {
      get: {
        summary:
          "A patient's care team: the clinicians who see the patient under policy patientAccess 'care-team' (practice admins; audited as phi.read)",
        security: secured,
        parameters: params,
        responses: {
          ...ok('The care team, earliest member first'),
          ...errors(401, [403, 'forbidden: practice admins only'], notOurs, 429),
        },
      },
    },
    '/v1/patients/{id}/care-team/{email}': {
      put: {
        summary:
          "Add a clinician to a patient's care team (practice admins; idempotent; audited as care.change)",
        security: secured,
        parameters: withEmail,
        responses: { ...ok('The care team after the change'), ...changeErrors },
      },
      delete: {
        summary:
          "Remove a clinician from a patient's care team (practice admins; idempotent; audited as care.change)",
        security: secured,
        parameters: withEmail,
        responses: { ...ok('The care team after the change'), ...changeErrors },
      },
    },
  };
}
