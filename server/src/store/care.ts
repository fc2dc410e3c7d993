import type { Db } from './store.ts';
import type { CareSource, ClinicianRole } from './schema.ts';
import { runCompiled } from './compiled.ts';
import { getPolicy } from './practices.ts';

// The care relation (migration 0010): which clinicians care for which patient. DESIGN's security
// model: "a clinician sees the patients they care for". Under the practice policy's patientAccess
// 'care-team' (the default) a patient's PHI (record, sidebar, replies, caseload, message status) is
// readable by the patient's care team only; under 'practice' by every clinician of the practice.
// A clinician joins a care team by their own act (writing to the patient: 'sent'; registering them:
// 'created'; a mailbox import: 'imported') or by an admin ('assigned'). The first source is kept.

/** The caller, as the checks need it. */
export interface CareCaller {
  practiceId: string;
  clinicianId: string;
  role: ClinicianRole;
}

/** Whether every clinician of the practice may read every patient (policy patientAccess 'practice'). */
export async function practiceWideAccess(db: Db, practiceId: string): Promise<boolean> {
  return (await getPolicy(db, practiceId)).policy.patientAccess === 'practice';
}

/** Joins `clinicianId` to the care teams of `patientIds` (already there: unchanged). */
export async function addCare(
  db: Db,
  rel: {
    practiceId: string;
    clinicianId: string;
    patientIds: readonly string[];
    source: CareSource;
    at: string;
    by?: string | null;
  },
): Promise<void> {
  const ids = [...new Set(rel.patientIds)];
  if (ids.length === 0) return;
  const rows = ids.map((patientId) => ({
    practice_id: rel.practiceId,
    patient_id: patientId,
    clinician_id: rel.clinicianId,
    source: rel.source,
    created_at: rel.at,
    created_by: rel.by ?? null,
  }));
  // Compiled once per shape: this runs inside every secure send (delivery/send.ts).
  await runCompiled(
    db,
    `care:add:${rows.length}`,
    rows.flatMap((r) => Object.values(r)),
    () =>
      db
        .insertInto('care_relations')
        .values(rows)
        .onConflict((oc) => oc.columns(['patient_id', 'clinician_id']).doNothing()),
  );
}

/**
 * Puts one clinician in one patient's care team; true when they were not in it yet (the callers
 * that audit each change say whether it changed, and those that audit only joins audit these).
 * The insert itself tells, so two runs at once cannot both count the same join.
 */
export async function joinCare(
  db: Db,
  rel: {
    practiceId: string;
    clinicianId: string;
    patientId: string;
    source: CareSource;
    at: string;
    by?: string | null;
  },
): Promise<boolean> {
  const r = await db
    .insertInto('care_relations')
    .values({
      practice_id: rel.practiceId,
      patient_id: rel.patientId,
      clinician_id: rel.clinicianId,
      source: rel.source,
      created_at: rel.at,
      created_by: rel.by ?? null,
    })
    .onConflict((oc) => oc.columns(['patient_id', 'clinician_id']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Whether `clinicianId` is in the care team of `patientId` (both of `practiceId`). */
export async function inCareTeam(
  db: Db,
  practiceId: string,
  clinicianId: string,
  patientId: string,
): Promise<boolean> {
  const row = await db
    .selectFrom('care_relations')
    .select('patient_id')
    .where('practice_id', '=', practiceId)
    .where('clinician_id', '=', clinicianId)
    .where('patient_id', '=', patientId)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Whether the caller may read `patientId`'s PHI: practice-wide access, or the care team. Admins
 * follow the same rule (DESIGN gives admins policy and the archive export, not every chart); they
 * manage care teams and may list the whole practice's caseload, both audited.
 */
export async function maySeePatient(db: Db, caller: CareCaller, patientId: string): Promise<boolean> {
  if (await inCareTeam(db, caller.practiceId, caller.clinicianId, patientId)) return true;
  return practiceWideAccess(db, caller.practiceId);
}

/**
 * Whether the caller may read a message (its status) or a reply to it: the clinician who sent it,
 * a member of the care team of any patient it went to, or anyone under practice-wide access.
 */
export async function mayReadMessage(
  db: Db,
  caller: CareCaller,
  message: { senderId: string; patientIds: readonly (string | null)[] },
): Promise<boolean> {
  if (message.senderId === caller.clinicianId) return true;
  const ids = message.patientIds.filter((p): p is string => p !== null);
  if (ids.length > 0 && (await visibleAmong(db, caller, ids)).size > 0) return true;
  return ids.length === 0 && practiceWideAccess(db, caller.practiceId);
}

/** Which of `patientIds` the caller may read (same rule as maySeePatient). */
export async function visibleAmong(
  db: Db,
  caller: CareCaller,
  patientIds: readonly string[],
): Promise<Set<string>> {
  const ids = [...new Set(patientIds)];
  if (ids.length === 0) return new Set();
  if (await practiceWideAccess(db, caller.practiceId)) return new Set(ids);
  const out = new Set<string>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .selectFrom('care_relations')
      .select('patient_id')
      .where('practice_id', '=', caller.practiceId)
      .where('clinician_id', '=', caller.clinicianId)
      .where('patient_id', 'in', ids.slice(i, i + 500))
      .execute();
    for (const r of rows) out.add(r.patient_id);
  }
  return out;
}

/** The ids of the patients in the clinician's care (their caseload under 'care-team'). */
export async function patientsInCareOf(
  db: Db,
  practiceId: string,
  clinicianId: string,
): Promise<Set<string>> {
  const rows = await db
    .selectFrom('care_relations')
    .select('patient_id')
    .where('practice_id', '=', practiceId)
    .where('clinician_id', '=', clinicianId)
    .execute();
  return new Set(rows.map((r) => r.patient_id));
}

export interface CareTeamMember {
  clinicianId: string;
  email: string;
  name: string | null;
  role: ClinicianRole;
  source: CareSource;
  since: string;
  assignedBy: string | null;
}

/** A patient's care team, earliest first. */
export async function careTeam(db: Db, practiceId: string, patientId: string): Promise<CareTeamMember[]> {
  const rows = await db
    .selectFrom('care_relations as r')
    .innerJoin('clinicians as c', 'c.id', 'r.clinician_id')
    .select(['r.clinician_id', 'c.email', 'c.name', 'c.role', 'r.source', 'r.created_at', 'r.created_by'])
    .where('r.practice_id', '=', practiceId)
    .where('r.patient_id', '=', patientId)
    .orderBy('r.created_at')
    .orderBy('c.email')
    .execute();
  return rows.map((r) => ({
    clinicianId: r.clinician_id,
    email: r.email,
    name: r.name,
    role: r.role,
    source: r.source,
    since: r.created_at,
    assignedBy: r.created_by,
  }));
}

/** Takes `clinicianId` off `patientId`'s care team; whether they were on it. */
export async function removeCare(
  db: Db,
  practiceId: string,
  clinicianId: string,
  patientId: string,
): Promise<boolean> {
  const r = await db
    .deleteFrom('care_relations')
    .where('practice_id', '=', practiceId)
    .where('clinician_id', '=', clinicianId)
    .where('patient_id', '=', patientId)
    .executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
