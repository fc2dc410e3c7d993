import {
  EventsBatchRequestSchema,
  EventsBatchResponseSchema,
  type EventsBatchResponse,
} from '@attune/shared/api';
import { toMs } from '@attune/shared/engagement';
import { AUDIT, appendAudit, auditContext } from '../../audit/index.ts';
import { insertEvents, storedEventId, type NewEvent } from '../../engagement/events-store.ts';
import { requireClinician } from '../../identity/middleware.ts';
import { ApiError } from '../errors.ts';
import { visibleAmong } from '../../store/index.ts';
import { careCaller } from '../not-in-care.ts';
import { readJson } from '../validate.ts';
import { errors, json, secured } from '../openapi-schema.ts';
import type { RouteModule } from '../types.ts';

/**
 * POST /v1/events: a batch of appointment events from the practice's scheduling system.
 * - Validated by the shared EventsBatchRequestSchema (strict: unknown fields are refused).
 * - `patientId` is the Attune patient id, or the patient's email address (matched within the
 *   caller's practice only; for a clinician, only the patients they may see, store/care.ts; an
 *   admin, the scheduling system's account, may name any patient of the practice). A batch naming any unknown patient is refused whole (422
 *   patient_not_found, listing the item indexes), so a retry after fixing it cannot half-apply.
 * - Idempotent by event id, per practice: a repeated id is counted in `duplicates`, never stored twice.
 * - Audited as one PHI write with counts (no ids of the caller's system, no emails).
 */
export const events: RouteModule = {
  mount(app, deps) {
    const { db } = deps.store;
    const now = deps.now ?? (() => new Date());

    app.post('/v1/events', requireClinician(deps), async function ingestEvents(c) {
      const req = await readJson(c, EventsBatchRequestSchema);
      const { practiceId } = c.get('auth');
      const byId = new Set<string>();
      const emails = new Set<string>();
      for (const e of req.events) {
        if (e.patientId.includes('@')) emails.add(e.patientId.trim().toLowerCase());
        else byId.add(e.patientId);
      }
      const idRows = byId.size
        ? await db
            .selectFrom('patients')
            .select('id')
            .where('practice_id', '=', practiceId)
            .where('id', 'in', [...byId])
            .execute()
        : [];
      const emailRows = emails.size
        ? await db
            .selectFrom('patients')
            .select(['id', 'email'])
            .where('practice_id', '=', practiceId)
            .where('email', 'in', [...emails])
            .execute()
        : [];
      // A clinician's batch may name only the patients they may see (store/care.ts); any other reads
      // as unknown (the same 422). An admin's (the scheduling system's) may name any patient.
      const { role } = c.get('auth');
      const visible =
        role === 'admin'
          ? null
          : await visibleAmong(db, careCaller(c), [
              ...idRows.map((r) => r.id),
              ...emailRows.map((r) => r.id),
            ]);
      const seen = (id: string) => visible === null || visible.has(id);
      const known = new Set(idRows.map((r) => r.id).filter(seen));
      const byEmail = new Map(emailRows.filter((r) => seen(r.id)).map((r) => [r.email, r.id]));
      const unknown: number[] = [];
      const rows: NewEvent[] = [];
      req.events.forEach((e, i) => {
        const patientId = e.patientId.includes('@')
          ? byEmail.get(e.patientId.trim().toLowerCase())
          : known.has(e.patientId)
            ? e.patientId
            : undefined;
        if (!patientId) return void unknown.push(i);
        rows.push({
          id: storedEventId('api', practiceId, e.id),
          patientId,
          type: e.type,
          at: new Date(toMs(e.at)),
          data: { ...(e.appointmentId ? { appointmentId: e.appointmentId } : {}), source: 'api' },
        });
      });
      if (unknown.length > 0) {
        const list = unknown
          .slice(0, 20)
          .map((i) => `events.${i}.patientId`)
          .join(', ');
        throw new ApiError(
          422,
          'patient_not_found',
          `No patient with that id or email in your practice: ${list}${unknown.length > 20 ? ` (and ${unknown.length - 20} more)` : ''}. Nothing was stored.`,
        );
      }
      const result = await db.transaction().execute(async (tx) => {
        const r = await insertEvents(tx, practiceId, rows, now());
        await appendAudit(tx, {
          ...auditContext(c),
          action: AUDIT.PHI_WRITE,
          outcome: 'success',
          target: { type: 'engagement_events', id: practiceId },
          details: {
            operation: 'ingest',
            accepted: r.accepted,
            duplicates: r.duplicates,
            patients: new Set(rows.map((x) => x.patientId)).size,
          },
        });
        return r;
      });
      const body: EventsBatchResponse = result;
      return c.json(body, result.accepted > 0 ? 201 : 200);
    });
  },
  openapi: {
    '/v1/events': {
      post: {
        summary: 'Ingest a batch of appointment events from your scheduling system (idempotent by event id)',
        description:
          "`patientId` is the Attune patient id or the patient's email address, matched within your practice. A batch naming any unknown patient is refused whole (422), so nothing is half-applied.",
        security: secured,
        requestBody: { required: true, content: json(EventsBatchRequestSchema, 'input') },
        responses: {
          '201': {
            description: 'At least one new event stored',
            content: json(EventsBatchResponseSchema, 'output'),
          },
          '200': {
            description: 'Every event was already stored (all duplicates)',
            content: json(EventsBatchResponseSchema, 'output'),
          },
          ...errors(
            [400, 'invalid_json, validation_failed'],
            401,
            413,
            415,
            [
              422,
              'patient_not_found: the item indexes naming no patient of your practice; nothing was stored',
            ],
            429,
          ),
        },
      },
    },
  },
};
