import type { EngagementEvent, EngagementEventType } from '@attune/shared/api';
import { ENGAGEMENT_EVENT_TYPES } from '@attune/shared/api';
import type { Db } from '../store/index.ts';
import { nowIso } from '../store/index.ts';
import type { EngagementEventsTable } from '../store/schema.ts';

// The engagement_events table as the pure analytics see it. Reads are one index range scan each
// (engagement_events_patient_at: practice_id, patient_id, at) and one pass over the rows; writes are
// multi-row INSERT … ON CONFLICT (id) DO NOTHING RETURNING id, so a repeated event id is a counted
// no-op on both dialects.

const TYPES = new Set<string>(ENGAGEMENT_EVENT_TYPES);

/** Columns the analytics need (never created_at; the archive keeps bodies, not this table). */
const COLUMNS = ['id', 'patient_id', 'type', 'at', 'message_id', 'latency_ms', 'topics', 'data'] as const;
type Row = Pick<EngagementEventsTable, (typeof COLUMNS)[number]>;

/** Type-specific fields kept in the `data` JSON column (see api/events.ts). */
interface EventData {
  inReplyTo?: string;
  crisis?: EngagementEvent['crisis'];
  inquiry?: EngagementEvent['inquiry'];
  tone?: number;
  appointmentId?: string;
}

function parse<T>(text: string, empty: string, fallback: T): T {
  // Most rows carry '[]' / '{}': skipping JSON.parse for them is most of the load time saved.
  if (text === empty || text === '') return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

const NO_TOPICS: readonly string[] = Object.freeze([]);

/** One stored row as the shared EngagementEvent (unknown types and unparseable times are skipped). */
export function rowToEvent(r: Row): EngagementEvent | null {
  if (!TYPES.has(r.type)) return null;
  const at = Date.parse(r.at);
  if (!Number.isFinite(at)) return null;
  const e: EngagementEvent = { id: r.id, patientId: r.patient_id, type: r.type as EngagementEventType, at };
  if (r.message_id !== null) e.messageId = r.message_id;
  if (r.latency_ms !== null) e.latencyMs = Number(r.latency_ms);
  const topics = parse<readonly string[]>(r.topics, '[]', NO_TOPICS);
  if (topics.length > 0) e.topics = topics as string[];
  const d = parse<EventData>(r.data, '{}', {});
  if (typeof d.inReplyTo === 'string') e.inReplyTo = d.inReplyTo;
  if (d.crisis && typeof d.crisis.sentence === 'string') e.crisis = d.crisis;
  if (typeof d.inquiry === 'string') e.inquiry = d.inquiry;
  if (typeof d.tone === 'number') e.tone = d.tone;
  if (typeof d.appointmentId === 'string') e.appointmentId = d.appointmentId;
  return e;
}

// A message that never reached a patient is not one they left unanswered. The `sent` event is
// written when a message is accepted (at its scheduled time), before anyone knows whether it will
// arrive; when it turns out it never did (revoked before it went out or before a secure link was
// opened, refused for good by the patient's mail server, expired before its hour), the delivery
// module appends an `undelivered` row for that patient and message. It is a stored-only type, never
// handed to the analytics: the loaders (and the read cache) drop the message's `sent` and
// `checkin_sent` for that patient instead, so it counts nowhere (reply rate, unanswered alerts,
// triage, drop evidence, style). Appending, not deleting or editing the `sent` row, keeps the table
// append-only, which the read cache's freshness check relies on (cache.ts). Evidence that the
// patient had the message anyway (an open, a reply to it) outweighs the marker.

/** Stored-only event type: this patient never received this message (see above). */
export const UNDELIVERED = 'undelivered';

export type UndeliveredReason = 'revoked' | 'failed' | 'expired';

/** Ids of messages marked undelivered, by patient. */
export type UndeliveredByPatient = Map<string, Set<string>>;

/** Notes an `undelivered` row (of any patient) in `into`. */
export function noteUndelivered(
  into: UndeliveredByPatient,
  r: Pick<Row, 'type' | 'patient_id' | 'message_id'>,
): boolean {
  if (r.type !== UNDELIVERED) return false;
  if (r.message_id === null) return true;
  let set = into.get(r.patient_id);
  if (!set) into.set(r.patient_id, (set = new Set()));
  set.add(r.message_id);
  return true;
}

/**
 * A patient's events without the `sent` / `checkin_sent` of messages that never reached them,
 * unless an open of or a reply to the message shows they had it. The same array when nothing is
 * marked (the common case).
 */
export function reachedPatient(
  events: EngagementEvent[],
  undelivered: ReadonlySet<string> | undefined,
): EngagementEvent[] {
  if (!undelivered || undelivered.size === 0) return events;
  const had = new Set<string>();
  for (const e of events) {
    if (e.type === 'opened' && e.messageId !== undefined) had.add(e.messageId);
    else if (e.type === 'replied' && e.inReplyTo !== undefined) had.add(e.inReplyTo);
  }
  return events.filter(
    (e) =>
      !(
        (e.type === 'sent' || e.type === 'checkin_sent') &&
        e.messageId !== undefined &&
        undelivered.has(e.messageId) &&
        !had.has(e.messageId)
      ),
  );
}

/**
 * Marks the given deliveries' messages undelivered for their patients, in the caller's transaction
 * (the one that settled the deliveries). Only deliveries that never reached the patient are marked:
 * status revoked, failed or expired, with a patient, never opened or replied to, and either failed
 * (refused by our relay, or bounced by the patient's server after our relay took it: a PGP/MIME
 * message returned by a 5.x.x report never arrived, whatever its method), a secure link (dead once
 * revoked: the notice alone gives neither the message nor a way to answer) or never handed to the
 * relay. Idempotent by delivery.
 */
export async function markUndelivered(
  db: Db,
  deliveryIds: readonly string[],
  reason: UndeliveredReason,
  at: Date,
): Promise<void> {
  if (deliveryIds.length === 0) return;
  const rows = await db
    .selectFrom('deliveries')
    .select(['id', 'practice_id', 'patient_id', 'message_id'])
    .where('id', 'in', [...deliveryIds])
    .where('status', 'in', ['revoked', 'failed', 'expired'])
    .where('opened_at', 'is', null)
    .where('replied_at', 'is', null)
    .where((eb) => eb.or([eb('status', '=', 'failed'), eb('method', '=', 'link'), eb('sent_at', 'is', null)]))
    .execute();
  const t = nowIso(at);
  const values = rows.flatMap((d) =>
    d.patient_id === null
      ? []
      : [
          {
            id: undeliveredEventId(d.id),
            practice_id: d.practice_id,
            patient_id: d.patient_id,
            type: UNDELIVERED,
            at: t,
            message_id: d.message_id,
            latency_ms: null,
            topics: '[]',
            data: JSON.stringify({ reason }),
            created_at: t,
          },
        ],
  );
  if (values.length === 0) return;
  await db
    .insertInto('engagement_events')
    .values(values)
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

/**
 * Withdraws the marks of deliveries that went out after all (a PGP message revoked while the relay
 * was taking it). A deletion: the read cache sees the lower count and reloads.
 */
export async function unmarkUndelivered(db: Db, deliveryIds: readonly string[]): Promise<void> {
  if (deliveryIds.length === 0) return;
  await db.deleteFrom('engagement_events').where('id', 'in', deliveryIds.map(undeliveredEventId)).execute();
}

export function undeliveredEventId(deliveryId: string): string {
  return `${UNDELIVERED}:${deliveryId}`;
}

/** A patient's events up to `asOf` (inclusive), oldest first. */
export async function loadPatientEvents(
  db: Db,
  practiceId: string,
  patientId: string,
  asOf: Date,
): Promise<EngagementEvent[]> {
  const rows = await db
    .selectFrom('engagement_events')
    .select(COLUMNS)
    .where('practice_id', '=', practiceId)
    .where('patient_id', '=', patientId)
    .where('at', '<=', nowIso(asOf))
    .orderBy('at')
    .execute();
  const out: EngagementEvent[] = [];
  const undelivered: UndeliveredByPatient = new Map();
  for (const r of rows) {
    if (noteUndelivered(undelivered, r)) continue;
    const e = rowToEvent(r);
    if (e) out.push(e);
  }
  return reachedPatient(out, undelivered.get(patientId));
}

/**
 * Every event of a practice up to `asOf`, grouped by patient, each group oldest first: one query in
 * index order (practice_id, patient_id, at), so grouping is a single pass with no sort.
 */
export async function loadPracticeEvents(
  db: Db,
  practiceId: string,
  asOf: Date,
): Promise<Map<string, EngagementEvent[]>> {
  const rows = await db
    .selectFrom('engagement_events')
    .select(COLUMNS)
    .where('practice_id', '=', practiceId)
    .where('at', '<=', nowIso(asOf))
    .orderBy('patient_id')
    .orderBy('at')
    .execute();
  const out = new Map<string, EngagementEvent[]>();
  const undelivered: UndeliveredByPatient = new Map();
  let current = '';
  let group: EngagementEvent[] = [];
  for (const r of rows) {
    if (noteUndelivered(undelivered, r)) continue;
    const e = rowToEvent(r);
    if (!e) continue;
    if (r.patient_id !== current) {
      current = r.patient_id;
      group = out.get(current) ?? [];
      out.set(current, group);
    }
    group.push(e);
  }
  for (const [patientId, ids] of undelivered) {
    const events = out.get(patientId);
    if (events) out.set(patientId, reachedPatient(events, ids));
  }
  return out;
}

/** An event to store: the stored id is already namespaced by the caller (see storedEventId). */
export interface NewEvent {
  id: string;
  patientId: string;
  type: EngagementEventType;
  at: Date;
  messageId?: string | null | undefined;
  latencyMs?: number | null | undefined;
  topics?: readonly string[] | undefined;
  data?: EventData & Record<string, unknown>;
}

/**
 * The stored id of an event a practice names itself (API, FHIR, mailbox): ids are unique across the
 * table, so two practices both sending "apt-1" must not collide (nor learn of each other's ids).
 */
export function storedEventId(
  source: 'api' | 'fhir' | 'gmail' | 'demo',
  practiceId: string,
  id: string,
): string {
  return `${source}:${practiceId}:${id}`;
}

const CHUNK = 200;

/** Inserts events; an id already stored is skipped. Returns how many were new and how many repeats. */
export async function insertEvents(
  db: Db,
  practiceId: string,
  events: readonly NewEvent[],
  now: Date,
): Promise<{ accepted: number; duplicates: number }> {
  if (events.length === 0) return { accepted: 0, duplicates: 0 };
  const created = nowIso(now);
  let accepted = 0;
  // Within one batch a repeated id counts once (the second is a duplicate), as across batches.
  const seen = new Set<string>();
  const unique = events.filter((e) => (seen.has(e.id) ? false : (seen.add(e.id), true)));
  for (let i = 0; i < unique.length; i += CHUNK) {
    const values = unique.slice(i, i + CHUNK).map((e) => ({
      id: e.id,
      practice_id: practiceId,
      patient_id: e.patientId,
      type: e.type,
      at: nowIso(e.at),
      message_id: e.messageId ?? null,
      latency_ms: e.latencyMs === undefined || e.latencyMs === null ? null : Math.round(e.latencyMs),
      topics: JSON.stringify(e.topics ?? []),
      data: JSON.stringify(e.data ?? {}),
      created_at: created,
    }));
    const inserted = await db
      .insertInto('engagement_events')
      .values(values)
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id')
      .execute();
    accepted += inserted.length;
  }
  return { accepted, duplicates: events.length - accepted };
}
