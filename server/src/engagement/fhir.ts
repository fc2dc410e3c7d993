import { z } from 'zod';
import type { APPOINTMENT_EVENT_TYPES } from '@attune/shared/api';
import { visibleAmong, type CareCaller, type Db } from '../store/index.ts';
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

const Reference = z.object({ reference: z.string().max(500).optional() }).passthrough();
const Telecom = z
  .object({ system: z.string().optional(), value: z.string().max(320).optional() })
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

function emailOf(p: z.infer<typeof PatientResource>): string | null {
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
  bundle.entry.forEach((e, i) => {
    const rt = e.resource.resourceType;
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
        reason: 'Only Patient and Appointment resources are read.',
      });
    }
  });

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
          typeof r === 'string' && (r.startsWith('Patient/') || r.startsWith('urn:') || emailByRef.has(r)),
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
  return result;
}
