import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { simulatePractice, type SimPatient } from '@attune/shared/engagement';
import type { Db } from '../store/index.ts';
import { addCare, nowIso } from '../store/index.ts';
import { ensureClinician } from '../store/clinicians.ts';
import { insertEvents, storedEventId, type NewEvent } from './events-store.ts';

// `attune demo`: a synthetic practice from the shared simulator (known styles, reply-time and hour
// distributions, drops, missed appointments, a few crisis replies) so a newcomer sees a living
// sidebar. Deterministic per seed; patient ids derive from the practice and the simulated id, and
// event ids are namespaced "demo:<practice>:…", so a second run adds nothing and --reset removes
// exactly what a demo run added (never a real patient's events).

export interface DemoOptions {
  now: Date;
  patients?: number;
  seed?: number;
  /** Delete earlier demo events first and regenerate relative to `now`. */
  reset?: boolean;
  /**
   * The demo clinician's email (`attune demo` prints it): made a clinician of the practice (as their
   * first sign-in would) so that the demo patients can be in their care before they sign in.
   */
  clinicianEmail?: string;
}

export interface DemoResult {
  created: boolean;
  patients: number;
  events: number;
  crisisPatients: number;
  /** When the existing demo data ends (a run without --reset keeps it). */
  asOf: string | null;
  removed: number;
}

const DEMO_EMAIL_DOMAIN = 'patients.example';

/** A stable UUID-shaped id for a simulated patient of a practice (v8 layout over SHA-256). */
export function demoPatientId(practiceId: string, simId: string): string {
  const h = createHash('sha256').update(`attune-demo\0${practiceId}\0${simId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h.slice(16, 17), 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function demoPrefix(practiceId: string): string {
  return storedEventId('demo', practiceId, '');
}

export async function seedDemo(db: Db, practiceId: string, opts: DemoOptions): Promise<DemoResult> {
  const prefix = demoPrefix(practiceId);
  let removed = 0;
  if (opts.reset) {
    const r = await db
      .deleteFrom('engagement_events')
      .where('practice_id', '=', practiceId)
      .where('id', 'like', `${prefix}%`)
      .executeTakeFirst();
    removed = Number(r.numDeletedRows);
  } else {
    const existing = await db
      .selectFrom('engagement_events')
      .select([
        sql<number | string>`count(*)`.as('n'),
        sql<string | null>`max(at)`.as('last'),
        sql<number | string>`count(distinct patient_id)`.as('p'),
      ])
      .where('practice_id', '=', practiceId)
      .where('id', 'like', `${prefix}%`)
      .executeTakeFirst();
    if (existing && Number(existing.n) > 0) {
      const crisis = await db
        .selectFrom('engagement_events')
        .select(sql<number | string>`count(distinct patient_id)`.as('n'))
        .where('practice_id', '=', practiceId)
        .where('id', 'like', `${prefix}%`)
        .where('data', 'like', '%"first_person"%')
        .executeTakeFirst();
      // Demo data written before care teams (or a clinician who signed in since): still theirs.
      const patients = await db
        .selectFrom('engagement_events')
        .select('patient_id')
        .distinct()
        .where('practice_id', '=', practiceId)
        .where('id', 'like', `${prefix}%`)
        .execute();
      await demoCare(
        db,
        practiceId,
        patients.map((p) => p.patient_id),
        nowIso(opts.now),
        opts.clinicianEmail,
      );
      return {
        created: false,
        patients: Number(existing.p),
        events: Number(existing.n),
        crisisPatients: Number(crisis?.n ?? 0),
        asOf: existing.last,
        removed: 0,
      };
    }
  }

  const sim = simulatePractice({
    seed: opts.seed ?? 2026,
    patients: opts.patients ?? 200,
    asOf: opts.now.getTime(),
    idPrefix: 'demo',
  });
  const t = nowIso(opts.now);
  const events: NewEvent[] = [];
  let crisisPatients = 0;
  const patientIds: string[] = [];
  for (const p of sim.patients) {
    const id = await upsertPatient(db, practiceId, p, t);
    patientIds.push(id);
    let crisis = false;
    for (const e of p.events) {
      if (e.crisis?.grade === 'first_person') crisis = true;
      events.push({
        id: storedEventId('demo', practiceId, e.id),
        patientId: id,
        type: e.type,
        at: new Date(e.at),
        messageId: e.messageId ?? null,
        latencyMs: e.latencyMs ?? null,
        topics: e.topics,
        data: {
          ...(e.inReplyTo ? { inReplyTo: e.inReplyTo } : {}),
          ...(e.crisis ? { crisis: e.crisis } : {}),
          ...(e.inquiry ? { inquiry: e.inquiry } : {}),
          ...(e.tone !== undefined ? { tone: e.tone } : {}),
          ...(e.appointmentId ? { appointmentId: e.appointmentId } : {}),
          source: 'demo',
        },
      });
    }
    if (crisis) {
      crisisPatients++;
      // The simulator places crisis replies anywhere in the second year, mostly beyond the 30 days an
      // alert lasts; the first three such patients also get one in the last days, so the demo shows
      // the urgent flag (sidebar sentence, top of the caseload) as a clinician would meet it.
      if (crisisPatients <= 3) {
        const recent = recentCrisis(p, id, practiceId, opts.now.getTime());
        if (recent) events.push(recent);
      }
    }
  }
  const r = await db.transaction().execute((tx) => insertEvents(tx, practiceId, events, opts.now));
  await demoCare(db, practiceId, patientIds, t, opts.clinicianEmail);
  return {
    created: true,
    patients: sim.patients.length,
    events: r.accepted,
    crisisPatients,
    asOf: t,
    removed,
  };
}

async function upsertPatient(db: Db, practiceId: string, p: SimPatient, t: string): Promise<string> {
  const email = p.email.endsWith(`@${DEMO_EMAIL_DOMAIN}`)
    ? p.email
    : `${p.email.split('@')[0]}@${DEMO_EMAIL_DOMAIN}`;
  const existing = await db
    .selectFrom('patients')
    .select('id')
    .where('practice_id', '=', practiceId)
    .where('email', '=', email)
    .executeTakeFirst();
  if (existing) {
    await db
      .updateTable('patients')
      .set({ name: p.name, time_zone: p.timeZone, updated_at: t })
      .where('id', '=', existing.id)
      .execute();
    return existing.id;
  }
  const id = demoPatientId(practiceId, p.id);
  // The same simulated slot under another seed (`attune demo --reset --seed N`): its row is reused,
  // with this seed's name and address, instead of a second row under the same id.
  const sameSlot = await db.selectFrom('patients').select('id').where('id', '=', id).executeTakeFirst();
  if (sameSlot) {
    await db
      .updateTable('patients')
      .set({ email, name: p.name, time_zone: p.timeZone, updated_at: t })
      .where('id', '=', id)
      .execute();
    return id;
  }
  await db
    .insertInto('patients')
    .values({
      id,
      practice_id: practiceId,
      email,
      name: p.name,
      time_zone: p.timeZone,
      public_key: null,
      fingerprint: null,
      created_at: t,
      updated_at: t,
    })
    .execute();
  return id;
}

/**
 * The demo patients are in the care (store/care.ts, source 'imported') of the demo clinician and of
 * every clinician of the practice so far: demo data is for whoever tries the demo in a development
 * store, and under the default policy (patientAccess 'care-team') nobody would see it otherwise.
 */
async function demoCare(
  db: Db,
  practiceId: string,
  patientIds: string[],
  at: string,
  clinicianEmail: string | undefined,
): Promise<void> {
  if (clinicianEmail !== undefined) await ensureClinician(db, practiceId, clinicianEmail.toLowerCase(), at);
  const clinicians = await db
    .selectFrom('clinicians')
    .select('id')
    .where('practice_id', '=', practiceId)
    .execute();
  for (const c of clinicians) {
    for (let i = 0; i < patientIds.length; i += 200) {
      await addCare(db, {
        practiceId,
        clinicianId: c.id,
        patientIds: patientIds.slice(i, i + 200),
        source: 'imported',
        at,
      });
    }
  }
}

function recentCrisis(p: SimPatient, patientId: string, practiceId: string, now: number): NewEvent | null {
  const DAY = 86_400_000;
  const sent = [...p.events]
    .reverse()
    .find((e) => e.type === 'sent' && (e.at as number) <= now - DAY && (e.at as number) >= now - 7 * DAY);
  const original = p.events.find((e) => e.crisis?.grade === 'first_person')?.crisis;
  if (!sent || !original) return null;
  const at = (sent.at as number) + 3 * 3_600_000;
  return {
    id: storedEventId('demo', practiceId, `${p.id}-recent-crisis`),
    patientId,
    type: 'replied',
    at: new Date(at),
    messageId: sent.messageId ?? null,
    latencyMs: 3 * 3_600_000,
    data: {
      ...(sent.messageId ? { inReplyTo: sent.messageId } : {}),
      crisis: original,
      inquiry: 'crisis',
      tone: 6,
      source: 'demo',
    },
  };
}
