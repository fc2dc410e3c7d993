import { sql } from 'kysely';
import type { EngagementEvent } from '@attune/shared/api';
import type { Db } from '../store/index.ts';
import { noteUndelivered, reachedPatient, rowToEvent, type UndeliveredByPatient } from './events-store.ts';

// A read cache of parsed engagement events, per practice (caseload) and per patient (sidebar).
//
// Why: turning 100,000 rows into JS objects costs far more than ranking them (strings are built per
// column per row), and a caseload is read far more often than it changes. Why it stays correct with
// several server processes and writers that know nothing of it (delivery, gateway, imports): every
// read first takes a stamp, count(*) and max(created_at) of the segment, an index-only scan of
// engagement_events_patient_created. Equal stamp: the cached events are the stored events (events
// are append-only; ids are unique). Otherwise only rows with created_at >= the cached newest are
// loaded and appended, and a second stamp must then equal the cached count and newest exactly; any
// mismatch (a writer whose row committed out of created_at order, a deletion such as
// `attune demo --reset`) falls back to a full reload. So a reply stored a moment ago, by any
// process, shows on the next read: "a crisis raises an urgent flag at once" holds.
// The analytics receive events in time order per patient (the timeline sorts only when needed).
// `undelivered` rows (a message that never reached its patient: revoked, refused, expired; see
// events-store.ts) are appended like any event, so the stamp sees them; the cache keeps the raw
// events and applies them on read, so a later open of the message can still outweigh them.

interface Stamp {
  count: number;
  max: string | null;
}

interface Segment {
  stamp: Stamp;
  byPatient: Map<string, EngagementEvent[]>;
  /** Ids of rows whose created_at equals stamp.max (an incremental load re-reads those). */
  idsAtMax: Set<string>;
  /** Messages that never reached their patient, by patient (events-store.ts). */
  undelivered: UndeliveredByPatient;
  /** byPatient with those messages dropped; made on the first read of this version. */
  view?: Map<string, EngagementEvent[]>;
}

const COLUMNS = [
  'id',
  'patient_id',
  'type',
  'at',
  'message_id',
  'latency_ms',
  'topics',
  'data',
  'created_at',
] as const;

export interface CacheStats {
  hits: number;
  incremental: number;
  full: number;
}

export class EngagementEventCache {
  /** Whole practices (large: every event of a practice) and single patients, bounded apart. */
  private readonly practices = new Map<string, Segment>();
  private readonly patients = new Map<string, Segment>();
  readonly stats: CacheStats = { hits: 0, incremental: 0, full: 0 };

  constructor(private readonly opts: { maxPractices?: number; maxPatients?: number } = {}) {}

  /** How many whole practices the cache keeps before it evicts the least recently used. */
  get maxPractices(): number {
    return this.opts.maxPractices ?? 8;
  }

  /** Every event of a practice, grouped by patient, each group in time order. */
  async practice(db: Db, practiceId: string): Promise<Map<string, EngagementEvent[]>> {
    return viewOf(await this.segment(db, practiceId, null));
  }

  /** One patient's events in time order (the caller has checked the patient is in the practice). */
  async patient(db: Db, practiceId: string, patientId: string): Promise<EngagementEvent[]> {
    const seg = await this.segment(db, practiceId, patientId);
    return reachedPatient(seg.byPatient.get(patientId) ?? [], seg.undelivered.get(patientId));
  }

  /** Drops everything (tests, or after bulk deletions when the caller wants memory back). */
  clear(): void {
    this.practices.clear();
    this.patients.clear();
  }

  private async segment(db: Db, practiceId: string, patientId: string | null): Promise<Segment> {
    const key = `${practiceId}\u0000${patientId ?? '*'}`;
    const segments = patientId === null ? this.practices : this.patients;
    const cached = segments.get(key);
    const s1 = await stampOf(db, practiceId, patientId);
    let seg: Segment | undefined;
    if (cached && cached.stamp.count === s1.count && cached.stamp.max === s1.max) {
      this.stats.hits++;
      seg = cached;
    } else if (cached && cached.stamp.max !== null && s1.count > cached.stamp.count) {
      seg = await this.appendSince(db, practiceId, patientId, cached);
    }
    if (!seg) seg = await this.reload(db, practiceId, patientId);
    // Most recently used last; evict the least recently used beyond the bound.
    segments.delete(key);
    segments.set(key, seg);
    const max = patientId === null ? this.maxPractices : (this.opts.maxPatients ?? 512);
    while (segments.size > max) segments.delete(segments.keys().next().value as string);
    return seg;
  }

  private async appendSince(
    db: Db,
    practiceId: string,
    patientId: string | null,
    seg: Segment,
  ): Promise<Segment | undefined> {
    const since = seg.stamp.max as string;
    const rows = await selectRows(db, practiceId, patientId)
      .where('created_at', '>=', since)
      .orderBy('created_at')
      .execute();
    let added = 0;
    let max = since;
    const idsAtMax = new Set(seg.idsAtMax);
    for (const r of rows) {
      if (r.created_at === since && seg.idsAtMax.has(r.id)) continue;
      added++;
      if (r.created_at > max) {
        max = r.created_at;
        idsAtMax.clear();
      }
      if (r.created_at === max) idsAtMax.add(r.id);
      if (noteUndelivered(seg.undelivered, r)) continue;
      const e = rowToEvent(r);
      if (e) append(seg.byPatient, r.patient_id, e);
    }
    const s2 = await stampOf(db, practiceId, patientId);
    if (s2.count !== seg.stamp.count + added || s2.max !== max) return undefined;
    this.stats.incremental++;
    return { stamp: s2, byPatient: seg.byPatient, idsAtMax, undelivered: seg.undelivered };
  }

  private async reload(db: Db, practiceId: string, patientId: string | null): Promise<Segment> {
    this.stats.full++;
    // Index order (practice_id, patient_id, at): grouping is one pass and each group is sorted.
    let q = selectRows(db, practiceId, patientId);
    if (patientId === null) q = q.orderBy('patient_id');
    const rows = await q.orderBy('at').execute();
    const byPatient = new Map<string, EngagementEvent[]>();
    let max: string | null = null;
    let idsAtMax = new Set<string>();
    const undelivered: UndeliveredByPatient = new Map();
    let current = '';
    let group: EngagementEvent[] = [];
    for (const r of rows) {
      if (max === null || r.created_at > max) {
        max = r.created_at;
        idsAtMax = new Set();
      }
      if (r.created_at === max) idsAtMax.add(r.id);
      if (noteUndelivered(undelivered, r)) continue;
      const e = rowToEvent(r);
      if (!e) continue;
      if (r.patient_id !== current) {
        current = r.patient_id;
        group = byPatient.get(current) ?? [];
        byPatient.set(current, group);
      }
      group.push(e);
    }
    return { stamp: { count: rows.length, max }, byPatient, idsAtMax, undelivered };
  }
}

function viewOf(seg: Segment): Map<string, EngagementEvent[]> {
  if (seg.undelivered.size === 0) return seg.byPatient;
  if (!seg.view) {
    seg.view = new Map(seg.byPatient);
    for (const [patientId, ids] of seg.undelivered) {
      const events = seg.byPatient.get(patientId);
      if (events) seg.view.set(patientId, reachedPatient(events, ids));
    }
  }
  return seg.view;
}

function selectRows(db: Db, practiceId: string, patientId: string | null) {
  let q = db.selectFrom('engagement_events').select(COLUMNS).where('practice_id', '=', practiceId);
  if (patientId !== null) q = q.where('patient_id', '=', patientId);
  return q;
}

async function stampOf(db: Db, practiceId: string, patientId: string | null): Promise<Stamp> {
  let q = db
    .selectFrom('engagement_events')
    .select([sql<number | string>`count(*)`.as('n'), sql<string | null>`max(created_at)`.as('m')])
    .where('practice_id', '=', practiceId);
  if (patientId !== null) q = q.where('patient_id', '=', patientId);
  const r = await q.executeTakeFirst();
  return { count: Number(r?.n ?? 0), max: r?.m ?? null };
}

function append(byPatient: Map<string, EngagementEvent[]>, patientId: string, e: EngagementEvent): void {
  let group = byPatient.get(patientId);
  if (!group) byPatient.set(patientId, (group = []));
  const last = group[group.length - 1];
  group.push(e);
  // Keep the group in time order (an import may add past events).
  if (last && (last.at as number) > (e.at as number))
    group.sort((a, b) => (a.at as number) - (b.at as number));
}
