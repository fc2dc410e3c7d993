import { PatientSchema, UpsertPatientRequestSchema, type UpsertPatientRequest } from '@attune/shared/api';
import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import { PUBLIC_KEY_REJECTION_MESSAGES, readPublicKey } from '../../crypto/index.ts';
import { requireClinician } from '../../identity/middleware.ts';
import {
  addCare,
  findPatient,
  findPatientByEmail,
  maySeePatient,
  newId,
  nowIso,
  toPatient,
} from '../../store/index.ts';
import { ApiError } from '../errors.ts';
import { notInPractice } from '../not-in-practice.ts';
import { careCaller, notInCare } from '../not-in-care.ts';
import { readJson } from '../validate.ts';
import type { RouteModule } from '../types.ts';

export { PatientSchema, UpsertPatientRequestSchema };

const ID = /^[0-9a-f-]{36}$/;

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

async function validatedKey(
  req: UpsertPatientRequest,
): Promise<{ armored: string; fingerprint: string } | undefined> {
  if (req.publicKey === undefined) return undefined;
  // Validation lives in the crypto wrapper (one place decides what GnuPG 2.2 recipients can use).
  const r = await readPublicKey(req.publicKey);
  if (!r.ok) throw new ApiError(400, 'invalid_public_key', PUBLIC_KEY_REJECTION_MESSAGES[r.reason]);
  return { armored: r.armored, fingerprint: r.fingerprint };
}

/**
 * POST /v1/patients: create or update (by email) a patient of the caller's practice. Creating makes
 * the caller a member of the patient's care team (store/care.ts); updating needs the care team, an
 * admin, or practice-wide access (policy patientAccess), else 403 forbidden, audited.
 * GET /v1/patients/:id: one patient of the caller's practice; another practice's id is a 404,
 * exactly like an unknown id (no way to probe other tenants), and so is a patient outside the
 * caller's care team (policy patientAccess 'care-team'); both are audited as authorization
 * failures. Every read and write of a patient record is audited (references only).
 */
export const patients: RouteModule = {
  mount(app, deps) {
    const auth = requireClinician(deps);
    const { db } = deps.store;

    app.post('/v1/patients', auth, async function upsertPatient(c) {
      const req = await readJson(c, UpsertPatientRequestSchema);
      if (req.timeZone !== undefined && !validTimeZone(req.timeZone)) {
        throw new ApiError(
          400,
          'validation_failed',
          'timeZone: use an IANA time zone such as America/New_York.',
        );
      }
      const key = await validatedKey(req);
      const { practiceId } = c.get('auth');
      const now = nowIso();
      const caller = careCaller(c);
      const result = await db.transaction().execute(async (tx) => {
        const existing = await findPatientByEmail(tx, practiceId, req.email);
        let id = existing?.id;
        let created = false;
        if (!id) {
          // Two requests may create the same new patient at once: the insert yields to the other's
          // row (a plain insert broke patients_practice_email, a 500 on PostgreSQL), and the loser
          // updates that row like any existing patient.
          const newPatientId = newId();
          await tx
            .insertInto('patients')
            .values({
              id: newPatientId,
              practice_id: practiceId,
              email: req.email,
              name: req.name ?? null,
              time_zone: req.timeZone ?? null,
              public_key: key?.armored ?? null,
              fingerprint: key?.fingerprint ?? null,
              created_at: now,
              updated_at: now,
            })
            .onConflict((oc) => oc.columns(['practice_id', 'email']).doNothing())
            .execute();
          const row = await findPatientByEmail(tx, practiceId, req.email);
          if (!row) throw new Error('patient missing after its insert');
          id = row.id;
          created = row.id === newPatientId;
        }
        // Updating a patient record needs its care team (or an admin, or practice-wide access),
        // also when a concurrent request created it first; registering a new one makes the caller
        // its first care-team member.
        const patientId = id;
        if (!created && caller.role !== 'admin' && !(await maySeePatient(tx, caller, patientId))) {
          return { refused: patientId };
        }
        if (created) {
          await addCare(tx, {
            practiceId,
            clinicianId: caller.clinicianId,
            patientIds: [id],
            source: 'created',
            at: now,
          });
        } else {
          await tx
            .updateTable('patients')
            .set({
              ...(req.name !== undefined ? { name: req.name } : {}),
              ...(req.timeZone !== undefined ? { time_zone: req.timeZone } : {}),
              ...(key ? { public_key: key.armored, fingerprint: key.fingerprint } : {}),
              updated_at: now,
            })
            .where('id', '=', id)
            .where('practice_id', '=', practiceId)
            .execute();
        }
        await appendAudit(tx, {
          ...auditContext(c),
          action: AUDIT.PHI_WRITE,
          outcome: 'success',
          target: { type: 'patient', id },
          details: { operation: created ? 'create' : 'update', publicKey: key !== undefined },
        });
        const row = await findPatient(tx, practiceId, id);
        if (!row) throw new Error('patient vanished inside its own transaction');
        return { row, created };
      });
      if (result.refused !== undefined) {
        // The email is a patient of the practice in other clinicians' care. Saying so is the one
        // thing this answer reveals (emails are unique per practice, so a create cannot pretend);
        // the record itself is neither changed nor shown. Audited like any refusal.
        await appendAudit(db, {
          ...auditContext(c),
          action: AUDIT.AUTHZ_FAILURE,
          outcome: 'failure',
          target: { type: 'patient', id: result.refused },
          details: { reason: 'not_care_team', operation: 'update' },
        });
        throw new ApiError(
          403,
          'forbidden',
          "This patient is in the care of other clinicians of your practice. A practice administrator can add you to the patient's care team.",
        );
      }
      const { row, created } = result;
      if (!row) throw new Error('patient upsert returned no row');
      return c.json(toPatient(row), created ? 201 : 200);
    });

    app.get('/v1/patients/:id', auth, async function getPatient(c) {
      const id = c.req.param('id');
      const { practiceId } = c.get('auth');
      const row = ID.test(id) ? await findPatient(db, practiceId, id) : undefined;
      if (row && !(await maySeePatient(db, careCaller(c), row.id)))
        return notInCare(c, db, {
          target: 'patient',
          id,
          code: 'patient_not_found',
          message: 'No patient with that id in your practice.',
        });
      if (!row)
        return notInPractice(c, db, {
          table: 'patients',
          id,
          valid: ID.test(id),
          target: 'patient',
          code: 'patient_not_found',
          message: 'No patient with that id in your practice.',
        });
      await appendAudit(db, {
        ...auditContext(c),
        action: AUDIT.PHI_READ,
        outcome: 'success',
        target: { type: 'patient', id },
      });
      return c.json(toPatient(row));
    });
  },
};
