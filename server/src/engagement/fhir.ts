import { z } from 'zod';
import type { APPOINTMENT_EVENT_TYPES } from '@attune/shared/api';
import { AUDIT, appendAudit, type AuditEventInput } from '../audit/index.ts';
import { joinCare, nowIso, visibleAmong, type CareCaller, type Db } from '../store/index.ts';
import { edb } from './db.ts';
import { insertEvents, storedEventId, type NewEvent } from './events-store.ts';

// FHIR R4 Bundle import (POST /v1/fhir, `attune import fhir BUNDLE.json`): Patient resources give
// the email that matches a patient of the practice; Appointment resources become appointment events:
//
//   booked                          -> appointment_scheduled (at: created / meta.lastUpdated)
//   booked again with another start -> appointment_rescheduled (the first booking's start is kept)
//   fulfilled, arrived, checked-in  -> appointment_attended (at: start)
//   noshow                          -> appointment_missed (at: start)
//   cancelled                       -> appointment_cancelled (at: meta.lastUpdated, else start)
//   proposed, pending, waitlist, entered-in-error: skipped (not an engagement fact)
//
// Idempotent: event ids derive from the Appointment id and status, so importing the same bundle (or
// the next day's export, which repeats yesterday's appointments) adds only what changed. Reports
// say which entry (by index) was skipped or unmatched and why, never an email or a name.
//
// Care teams (store/care.ts): the Practitioner (or PractitionerRole) participants of a matched
// appointment name the clinicians who care for its patients. In an import by an admin (POST
// /v1/fhir with an admin's token, `attune import fhir`) each practitioner whose email (telecom
// system "email") is an enabled clinician of the practice joins the care team of the appointment's
// patients (source 'imported', audited as care.change); a practitioner who is not a clinician of the
// practice changes nothing. A clinician's import changes no care team: giving colleagues a patient
// is an admin's act (http/routes/care-team.ts). The import reports how many of the patients it
// matched have no care team at all, for the admin to assign.

const Reference = z.object({ reference: z.string().max(500).optional() }).passthrough();
const Telecom = z
  .object({ system: z.string().optional(), value: z.string().max(320).optional() })
  .passthrough();

const PractitionerResource = z
  .object({
    resourceType: z.literal('Practitioner'),
    id: z.string().max(200).optional(),
    telecom: z.array(Telecom).max(50).optional(),
  })
  .passthrough();

const PractitionerRoleResource = z
  .object({
    resourceType: z.literal('PractitionerRole'),
    id: z.string().max(200).optional(),
    practitioner: Reference.optional(),
    telecom: z.array(Telecom).max(50).optional(),
  })
  .passthrough();

const PatientResource = z
  .object({
    resourceType: z.literal('Patient'),
    id: z.string().max(200).optional(),
    telecom: z.array(Telecom).max(50).optional(),
  })
  .passthrough();

const fhirDateTime = z
  .string()
  .max(64)
  .refine((s) => Number.isFinite(Date.parse(s)), { message: 'not a FHIR dateTime' });

const AppointmentResource = z
  .object({
    resourceType: z.literal('Appointment'),
    id: z.string().min(1).max(200),
    status: z.string().max(40),
    start: fhirDateTime.optional(),
    created: fhirDateTime.optional(),
    meta: z.object({ lastUpdated: fhirDateTime.optional() }).passthrough().optional(),
    participant: z.array(z.object({ actor: Reference.optional() }).passthrough()).max(50),
  })
  .passthrough();

export const FhirBundleSchema = z
  .object({
    resourceType: z.literal('Bundle'),
    type: z.string().max(40).optional(),
    entry: z
      .array(
        z
          .object({
            fullUrl: z.string().max(500).optional(),
            resource: z.object({ resourceType: z.string().max(64) }).passthrough(),
          })
          .passthrough(),
      )
      .max(20_000)
      .default([]),
  })
  .passthrough();
export type FhirBundle = z.infer<typeof FhirBundleSchema>;

export interface FhirImportIssue {
  /** Index of the bundle entry. */
  entry: number;
  resourceType: string;
  reason: string;
}

export interface FhirImportResult {
  appointments: number;
  accepted: number;
  duplicates: number;
  /** Entries not imported on purpose (status without an engagement meaning, other resource types). */
  skipped: FhirImportIssue[];
  /** Appointments whose patient is not a patient of the practice (or has no email in the bundle). */
  unmatched: FhirImportIssue[];
  /** Resources that do not fit the R4 shape we read. */
  invalid: FhirImportIssue[];
}

/** Care teams from the bundle's practitioners (an admin's import); counts only, no addresses. */
export interface FhirCareResult {
  /** Distinct patients of the practice the bundle's appointments matched. */
  patients: number;
  /** Care-team joins made from the appointments' practitioners (new ones only). */
  joined: number;
  /** Distinct practitioner emails of matched appointments that are no enabled clinician of the practice. */
  unknownPractitioners: number;
  /** Matched patients whose care team is empty after the import (an admin should assign one). */
  withoutCareTeam: number;
}

/** An admin's import: who joins clinicians to care teams, for created_by and the audit events. */
export interface FhirCareAssignment {
  /** The admin's clinician id (created_by), or null at the CLI. */
  by: string | null;
  audit: Pick<AuditEventInput, 'actor' | 'ip' | 'requestId'>;
}

type AppointmentType = (typeof APPOINTMENT_EVENT_TYPES)[number];

const STATUS: Record<string, { type: AppointmentType; at: 'start' | 'booked' | 'updated' } | null> = {
  booked: { type: 'appointment_scheduled', at: 'booked' },
  fulfilled: { type: 'appointment_attended', at: 'start' },
  arrived: { type: 'appointment_attended', at: 'start' },
  'checked-in': { type: 'appointment_attended', at: 'start' },
  noshow: { type: 'appointment_missed', at: 'start' },
  cancelled: { type: 'appointment_cancelled', at: 'updated' },
  proposed: null,
  pending: null,
  waitlist: null,
  'entered-in-error': null,
};

function emailOf(p: { telecom?: z.infer<typeof Telecom>[] | undefined }): string | null {
  const t = p.telecom?.find(
    (x) => x.system === 'email' && typeof x.value === 'string' && x.value.includes('@'),
  );
  return t?.value ? t.value.trim().toLowerCase() : null;
}

/** Imports a bundle into the practice. `now` stands in for a booking time the bundle does not give. */
export async function importFhirBundle(
  db: Db,
  practiceId: string,
  bundle: FhirBundle,
  now: Date,
  /** A clinician's import (not an admin's): only patients they may see (store/care.ts) match. */
  careOf?: CareCaller,
): Promise<FhirImportResult> {
  return (await importFhirBundleWithCare(db, practiceId, bundle, now, careOf ? { careOf } : {})).result;
}

/**
 * importFhirBundle, and with `assignCare` (an admin's import) the care teams the appointments'
 * practitioners name; `care` counts what happened to care teams either way.
 */
export async function importFhirBundleWithCare(
  db: Db,
  practiceId: string,
  bundle: FhirBundle,
  now: Date,
  opts: { careOf?: CareCaller; assignCare?: FhirCareAssignment },
): Promise<{ result: FhirImportResult; care: FhirCareResult }> {
  const { careOf } = opts;
  const result: FhirImportResult = {
    appointments: 0,
    accepted: 0,
    duplicates: 0,
    skipped: [],
    unmatched: [],
    invalid: [],
  };
  // Patients of the bundle by every name a participant may use: "Patient/<id>" and the entry's fullUrl.
  const emailByRef = new Map<string, string>();
  const appointments: Array<{ entry: number; a: z.infer<typeof AppointmentResource> }> = [];
  // Practitioners by the same names; every reference that names one (with an email or not), so
  // that it is never taken for a patient.
  const practitionerEmailByRef = new Map<string, string>();
  const practitionerRefs = new Set<string>();
  const roles: Array<{ refs: string[]; email: string | null; practitioner?: string | undefined }> = [];
  bundle.entry.forEach((e, i) => {
    const rt = e.resource.resourceType;
    if (rt === 'Practitioner' || rt === 'PractitionerRole') {
      const p =
        rt === 'Practitioner'
          ? PractitionerResource.safeParse(e.resource)
          : PractitionerRoleResource.safeParse(e.resource);
      if (!p.success)
        return void result.invalid.push({
          entry: i,
          resourceType: rt,
          reason: `${rt} does not fit the R4 shape read here.`,
        });
      const refs = [...(p.data.id ? [`${rt}/${p.data.id}`] : []), ...(e.fullUrl ? [e.fullUrl] : [])];
      for (const r of refs) practitionerRefs.add(r);
      const email = emailOf(p.data);
      if (p.data.resourceType === 'PractitionerRole')
        roles.push({ refs, email, practitioner: p.data.practitioner?.reference });
      else if (email) for (const r of refs) practitionerEmailByRef.set(r, email);
      return;
    }
    if (rt === 'Patient') {
      const p = PatientResource.safeParse(e.resource);
      if (!p.success)
        return void result.invalid.push({
          entry: i,
          resourceType: rt,
          reason: 'Patient does not fit the R4 shape read here.',
        });
      const email = emailOf(p.data);
      if (!email) return;
      if (p.data.id) emailByRef.set(`Patient/${p.data.id}`, email);
      if (e.fullUrl) emailByRef.set(e.fullUrl, email);
    } else if (rt === 'Appointment') {
      const a = AppointmentResource.safeParse(e.resource);
      if (!a.success) {
        const field = a.error.issues[0]?.path.join('.') ?? '';
        return void result.invalid.push({
          entry: i,
          resourceType: rt,
          reason: `Appointment does not fit the R4 shape read here${field ? ` (${field})` : ''}.`,
        });
      }
      appointments.push({ entry: i, a: a.data });
    } else {
      result.skipped.push({
        entry: i,
        resourceType: rt,
        reason: 'Only Patient, Practitioner, PractitionerRole and Appointment resources are read.',
      });
    }
  });
  // A PractitionerRole's email: its own, else its Practitioner's.
  for (const r of roles) {
    const email = r.email ?? (r.practitioner ? practitionerEmailByRef.get(r.practitioner) : undefined);
    if (email) for (const ref of r.refs) practitionerEmailByRef.set(ref, email);
  }

  // One query for every email named in the bundle.
  const emails = [...new Set(emailByRef.values())];
  const patientByEmail = new Map<string, string>();
  for (let i = 0; i < emails.length; i += 500) {
    const rows = await db
      .selectFrom('patients')
      .select(['id', 'email'])
      .where('practice_id', '=', practiceId)
      .where('email', 'in', emails.slice(i, i + 500))
      .execute();
    for (const r of rows) patientByEmail.set(r.email, r.id);
  }
  if (careOf) {
    // A patient outside the caller's care reads as no patient at all ("unmatched"), like an unknown one.
    const visible = await visibleAmong(db, careOf, [...patientByEmail.values()]);
    for (const [email, id] of patientByEmail) if (!visible.has(id)) patientByEmail.delete(email);
  }

  const events: NewEvent[] = [];
  // The patients matched, and the practitioner emails of each (care teams, below).
  const matched = new Set<string>();
  const careEmails = new Map<string, Set<string>>();
  for (const { entry, a } of appointments) {
    result.appointments++;
    // Own keys only: a status of "constructor" or "__proto__" must not find Object.prototype's members.
    const map = Object.hasOwn(STATUS, a.status) ? STATUS[a.status] : undefined;
    if (map === undefined) {
      result.invalid.push({
        entry,
        resourceType: 'Appointment',
        reason: 'status is not an R4 AppointmentStatus.',
      });
      continue;
    }
    if (map === null) {
      result.skipped.push({
        entry,
        resourceType: 'Appointment',
        reason: `status ${a.status} is not an engagement event.`,
      });
      continue;
    }
    const refs = a.participant
      .map((p) => p.actor?.reference)
      .filter(
        (r): r is string =>
          typeof r === 'string' &&
          !practitionerRefs.has(r) &&
          (r.startsWith('Patient/') || r.startsWith('urn:') || emailByRef.has(r)),
      );
    const patientIds = [
      ...new Set(
        refs
          .map((r) => emailByRef.get(r))
          .filter((x): x is string => !!x)
          .map((email) => patientByEmail.get(email))
          .filter((x): x is string => !!x),
      ),
    ];
    if (patientIds.length === 0) {
      result.unmatched.push({
        entry,
        resourceType: 'Appointment',
        reason:
          refs.length === 0
            ? 'No Patient participant.'
            : refs.some((r) => emailByRef.has(r))
              ? 'The patient is not a patient of this practice (matched by email).'
              : 'The Patient participant is not in the bundle or has no email.',
      });
      continue;
    }
    const practitioners = a.participant
      .map((p) => p.actor?.reference)
      .flatMap((r) =>
        r !== undefined && practitionerEmailByRef.has(r) ? [practitionerEmailByRef.get(r)!] : [],
      );
    for (const patientId of patientIds) {
      matched.add(patientId);
      for (const email of practitioners) {
        const set = careEmails.get(patientId) ?? new Set<string>();
        set.add(email);
        careEmails.set(patientId, set);
      }
    }
    const start = a.start ? new Date(a.start) : null;
    const updated = a.meta?.lastUpdated ? new Date(a.meta.lastUpdated) : null;
    const booked = a.created ? new Date(a.created) : updated;
    const at = map.at === 'start' ? start : map.at === 'booked' ? (booked ?? now) : (updated ?? start ?? now);
    if (!at) {
      result.invalid.push({
        entry,
        resourceType: 'Appointment',
        reason: `status ${a.status} needs a start time.`,
      });
      continue;
    }
    for (const patientId of patientIds) {
      const base = `Appointment/${a.id}:${patientId}`;
      const data = { appointmentId: a.id, ...(a.start ? { start: a.start } : {}), source: 'fhir' };
      if (map.type === 'appointment_scheduled') {
        // A booked appointment seen before with another start was moved: a reschedule.
        const firstId = storedEventId('fhir', practiceId, `${base}:booked`);
        const first = await edb(db)
          .selectFrom('engagement_events')
          .select('data')
          .where('id', '=', firstId)
          .executeTakeFirst();
        const firstStart = first ? (JSON.parse(first.data) as { start?: string }).start : undefined;
        if (first && a.start && firstStart && Date.parse(firstStart) !== Date.parse(a.start)) {
          events.push({
            id: storedEventId('fhir', practiceId, `${base}:rescheduled:${a.start}`),
            patientId,
            type: 'appointment_rescheduled',
            at: updated ?? now,
            data,
          });
          continue;
        }
        events.push({ id: firstId, patientId, type: map.type, at, data });
      } else {
        events.push({
          id: storedEventId('fhir', practiceId, `${base}:${a.status}`),
          patientId,
          type: map.type,
          at,
          data,
        });
      }
    }
  }
  const r = await insertEvents(db, practiceId, events, now);
  result.accepted = r.accepted;
  result.duplicates = r.duplicates;
  const care = await careTeamsOf(db, practiceId, matched, careEmails, opts.assignCare, now);
  return { result, care };
}

/** Joins the named clinicians (an admin's import) and counts the matched patients left without a team. */
async function careTeamsOf(
  db: Db,
  practiceId: string,
  matched: ReadonlySet<string>,
  careEmails: ReadonlyMap<string, ReadonlySet<string>>,
  assign: FhirCareAssignment | undefined,
  now: Date,
): Promise<FhirCareResult> {
  const patients = [...matched];
  const emails = [...new Set([...careEmails.values()].flatMap((s) => [...s]))];
  const clinicianByEmail = new Map<string, string>();
  for (let i = 0; i < emails.length; i += 500) {
    const rows = await db
      .selectFrom('clinicians')
      .select(['id', 'email'])
      .where('practice_id', '=', practiceId)
      .where('disabled', '=', 0)
      .where('email', 'in', emails.slice(i, i + 500))
      .execute();
    for (const row of rows) clinicianByEmail.set(row.email, row.id);
  }
  let joined = 0;
  if (assign) {
    const at = nowIso(now);
    for (const [patientId, named] of careEmails) {
      for (const email of named) {
        const clinicianId = clinicianByEmail.get(email);
        if (!clinicianId) continue;
        const fresh = await joinCare(db, {
          practiceId,
          clinicianId,
          patientId,
          source: 'imported',
          at,
          by: assign.by,
        });
        if (!fresh) continue;
        await appendAudit(db, {
          ...assign.audit,
          practiceId,
          action: AUDIT.CARE_CHANGE,
          outcome: 'success',
          target: { type: 'patient', id: patientId },
          details: { operation: 'add', clinicianId, changed: true, source: 'imported', via: 'fhir_import' },
        });
        joined++;
      }
    }
  }
  const withTeam = new Set<string>();
  for (let i = 0; i < patients.length; i += 500) {
    const rows = await db
      .selectFrom('care_relations')
      .select('patient_id')
      .where('practice_id', '=', practiceId)
      .where('patient_id', 'in', patients.slice(i, i + 500))
      .execute();
    for (const row of rows) withTeam.add(row.patient_id);
  }
  return {
    patients: patients.length,
    joined,
    unknownPractitioners: emails.filter((e) => !clinicianByEmail.has(e)).length,
    withoutCareTeam: patients.filter((p) => !withTeam.has(p)).length,
  };
}
