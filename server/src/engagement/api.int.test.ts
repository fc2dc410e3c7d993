import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaseloadSchema, EngagementSchema } from '@attune/shared/api';
import { dialectsUnderTest } from '../store/testing.ts';
import { insertEvents, storedEventId, type NewEvent } from './events-store.ts';
import { createEngagementFixture, type EngagementFixture } from './testing.ts';

const DAY = 86_400_000;
const NOW = new Date('2026-06-01T12:00:00Z');

/** A steady patient: a message every 3 days answered ~5 hours later at about 19:00 UTC. */
function steadyHistory(patientId: string, tag: string, weeks = 20): NewEvent[] {
  const out: NewEvent[] = [];
  for (let i = 0; i < weeks * 2; i++) {
    const sent = new Date(
      NOW.getTime() - (weeks * 7 - i * 3.5) * DAY + 14 * 3_600_000 - NOW.getUTCHours() * 3_600_000,
    );
    const msg = `${tag}-m${i}`;
    out.push({ id: `${tag}-s${i}`, patientId, type: 'sent', at: sent, messageId: msg, topics: ['homework'] });
    out.push({
      id: `${tag}-r${i}`,
      patientId,
      type: 'replied',
      at: new Date(sent.getTime() + 5 * 3_600_000),
      messageId: null,
      latencyMs: 5 * 3_600_000,
      data: { inReplyTo: msg, inquiry: 'homework', tone: 1 },
    });
  }
  return out;
}

describe.each(dialectsUnderTest())('engagement API on %s', (dialect) => {
  let f: EngagementFixture;
  let alice: string; // steady
  let bob: string; // crisis reply
  let carol: string; // missed appointments
  let outsider: string; // other practice

  beforeAll(async () => {
    f = await createEngagementFixture(dialect, NOW);
    alice = await f.addPatient(f.practiceId, 'alice@patients.example', {
      name: 'Alice Rivera',
      timeZone: 'America/New_York',
    });
    bob = await f.addPatient(f.practiceId, 'bob@patients.example', { name: 'Bob Chen' });
    carol = await f.addPatient(f.practiceId, 'carol@patients.example');
    outsider = await f.addPatient(f.otherPracticeId, 'dave@patients.example');
    await insertEvents(f.db, f.practiceId, steadyHistory(alice, 'a'), NOW);
    await insertEvents(f.db, f.practiceId, steadyHistory(bob, 'b'), NOW);
    await insertEvents(f.db, f.otherPracticeId, steadyHistory(outsider, 'o'), NOW);
  }, 60_000);
  afterAll(async () => {
    await f?.cleanup();
  });

  describe('POST /v1/events', () => {
    const missed = (id: string, patientId: string, daysAgo: number) => ({
      id,
      patientId,
      type: 'appointment_missed',
      at: new Date(NOW.getTime() - daysAgo * DAY).toISOString(),
      appointmentId: `apt-${id}`,
    });

    it('stores a batch and counts a repeated event id as a duplicate, not a second event', async () => {
      const batch = { events: [missed('x1', carol, 10), missed('x2', carol, 20), missed('x3', carol, 30)] };
      const first = await f.call('POST', '/v1/events', batch);
      expect(first.status).toBe(201);
      expect(await first.json()).toEqual({ accepted: 3, duplicates: 0 });
      const again = await f.call('POST', '/v1/events', {
        events: [missed('x1', carol, 10), missed('x4', carol, 40)],
      });
      expect(await again.json()).toEqual({ accepted: 1, duplicates: 1 });
      const res = await f.call('GET', `/v1/patients/${carol}/engagement`);
      const e = EngagementSchema.parse(await res.json());
      expect(e.appointments.missed).toBe(4);
      expect(e.alerts.some((a) => a.kind === 'missed_appointments')).toBe(true);
    });

    it('matches a patient by email within the practice', async () => {
      const res = await f.call('POST', '/v1/events', {
        events: [
          {
            id: 'by-mail-1',
            patientId: 'Carol@Patients.Example',
            type: 'appointment_attended',
            at: new Date(NOW.getTime() - 5 * DAY).toISOString(),
          },
        ],
      });
      expect(await res.json()).toEqual({ accepted: 1, duplicates: 0 });
      const e = EngagementSchema.parse(
        await (await f.call('GET', `/v1/patients/${carol}/engagement`)).json(),
      );
      expect(e.appointments.attended).toBe(1);
    });

    it('refuses the whole batch with 422 when a patient is unknown or in another practice, naming the item but no email', async () => {
      const res = await f.call('POST', '/v1/events', {
        events: [
          missed('y1', carol, 3),
          missed('y2', outsider, 3),
          { ...missed('y3', carol, 3), patientId: 'nobody@patients.example' },
        ],
      });
      expect(res.status).toBe(422);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('patient_not_found');
      expect(body.error.message).toContain('events.1.patientId');
      expect(body.error.message).toContain('events.2.patientId');
      expect(body.error.message).not.toContain('nobody@');
      const stored = await f.db
        .selectFrom('engagement_events')
        .select('id')
        .where('id', '=', storedEventId('api', f.practiceId, 'y1'))
        .execute();
      expect(stored).toHaveLength(0);
    });

    it('rejects non-appointment types and unknown fields with 400 validation_failed', async () => {
      const sent = await f.call('POST', '/v1/events', {
        events: [{ id: 'z', patientId: carol, type: 'sent', at: NOW.toISOString() }],
      });
      expect(sent.status).toBe(400);
      const extra = await f.call('POST', '/v1/events', {
        events: [{ ...missed('z2', carol, 1), note: 'x' }],
      });
      expect(extra.status).toBe(400);
      expect(((await extra.json()) as { error: { code: string } }).error.code).toBe('validation_failed');
      const notJson = await f.call('POST', '/v1/events', '{"events": [');
      expect(notJson.status).toBe(400);
    });

    it('keeps two practices using the same event id apart', async () => {
      const mine = await f.call('POST', '/v1/events', { events: [missed('shared-id', carol, 2)] });
      expect(await mine.json()).toEqual({ accepted: 1, duplicates: 0 });
      const theirs = await f.call(
        'POST',
        '/v1/events',
        { events: [missed('shared-id', outsider, 2)] },
        await f.token('dr@other.example'),
      );
      expect(await theirs.json()).toEqual({ accepted: 1, duplicates: 0 });
    });

    it('requires a bearer token', async () => {
      const res = await f.app.request('/v1/events', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(res.status).toBe(401);
    });
  });

  describe('GET engagement', () => {
    it('returns the sidebar data with inline SVG charts and a signed PNG URL, audited by patient id only', async () => {
      const res = await f.call('GET', `/v1/patients/${alice}/engagement`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const e = EngagementSchema.parse(await res.json());
      expect(e.patient.id).toBe(alice);
      expect(e.replyRate.value).toBeGreaterThan(0.9);
      expect(e.responseTime.medianHours).toBeCloseTo(5, 0);
      expect(e.charts.responseTimeSvg.startsWith('<svg')).toBe(true);
      expect(e.charts.pngUrl).toMatch(
        /^https:\/\/attune\.calm\.example\/v1\/charts\/[A-Za-z0-9_-]+\.png\?exp=\d+&sig=[A-Za-z0-9_-]{43}$/,
      );
      expect(e.charts.pngUrl).not.toContain(alice);
      const audit = await f.db
        .selectFrom('audit_events')
        .selectAll()
        .where('action', '=', 'phi.read')
        .where('target_id', '=', alice)
        .execute();
      expect(audit.length).toBeGreaterThan(0);
      expect(JSON.stringify(audit)).not.toContain('alice@');
      expect(JSON.stringify(audit)).not.toContain('Rivera');
    });

    it('serves the charts PNG at the signed URL and refuses a tampered or unsigned one', async () => {
      const e = EngagementSchema.parse(
        await (await f.call('GET', `/v1/patients/${alice}/engagement`)).json(),
      );
      const url = new URL(e.charts.pngUrl as string);
      const png = await f.app.request(url.pathname + url.search);
      expect(png.status).toBe(200);
      expect(png.headers.get('content-type')).toBe('image/png');
      const bytes = new Uint8Array(await png.arrayBuffer());
      expect([...bytes.slice(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      expect(bytes.length).toBeGreaterThan(500);
      const sig = url.searchParams.get('sig') as string;
      const flipped = `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
      expect(
        (await f.app.request(`${url.pathname}?exp=${url.searchParams.get('exp')}&sig=${flipped}`)).status,
      ).toBe(404);
      expect((await f.app.request(url.pathname)).status).toBe(404);
      const later = Number(url.searchParams.get('exp')) + 1;
      expect((await f.app.request(`${url.pathname}?exp=${later}&sig=${sig}`)).status).toBe(404);
    });

    it('finds a patient by URL-encoded email and by POST /v1/engagement/lookup', async () => {
      const a = await f.call(
        'GET',
        `/v1/patients/by-email/${encodeURIComponent('Alice@patients.example')}/engagement`,
      );
      expect(a.status).toBe(200);
      expect(EngagementSchema.parse(await a.json()).patient.id).toBe(alice);
      const b = await f.call('POST', '/v1/engagement/lookup', { email: 'alice@patients.example' });
      expect(EngagementSchema.parse(await b.json()).patient.id).toBe(alice);
      expect((await f.call('POST', '/v1/engagement/lookup', { email: 'not-an-email' })).status).toBe(400);
    });

    it("answers 404 for another practice's patient, exactly like an unknown one, and audits the attempt", async () => {
      const other = await f.call('GET', `/v1/patients/${outsider}/engagement`);
      const unknown = await f.call('GET', '/v1/patients/00000000-0000-0000-0000-000000000000/engagement');
      expect(other.status).toBe(404);
      expect(unknown.status).toBe(404);
      expect(await other.json()).toEqual(await unknown.json());
      expect((await f.call('POST', '/v1/engagement/lookup', { email: 'dave@patients.example' })).status).toBe(
        404,
      );
      const authz = await f.db
        .selectFrom('audit_events')
        .select(['target_id', 'details'])
        .where('action', '=', 'authz.failure')
        .where('target_id', '=', outsider)
        .execute();
      expect(authz.length).toBeGreaterThanOrEqual(2);
      // The other practice sees its own patient.
      const own = await f.call(
        'GET',
        `/v1/patients/${outsider}/engagement`,
        undefined,
        await f.token('dr@other.example'),
      );
      expect(own.status).toBe(200);
    });
  });

  describe('caseload and crisis', () => {
    it('puts a patient with a first-person crisis reply at the top at once, with the sentence in the sidebar', async () => {
      const before = CaseloadSchema.parse(await (await f.call('GET', '/v1/caseload')).json());
      expect(before.items[0]?.patientId).not.toBe(bob);
      // Stored exactly as delivery's acceptReply stores a reply (data: inReplyTo, source, analysis).
      await insertEvents(
        f.db,
        f.practiceId,
        [
          {
            id: 'replied:crisis-1',
            patientId: bob,
            type: 'replied',
            at: new Date(NOW.getTime() - 3_600_000),
            messageId: 'b-m39',
            latencyMs: 3_600_000,
            data: {
              inReplyTo: 'b-m39',
              source: 'viewer',
              inquiry: 'crisis',
              tone: 6,
              crisis: { sentence: 'I keep thinking I want to die.', grade: 'first_person' },
            },
          },
        ],
        NOW,
      );
      const after = CaseloadSchema.parse(
        await (await f.call('GET', '/v1/caseload?page=1&pageSize=10')).json(),
      );
      expect(after.items[0]).toMatchObject({ patientId: bob, crisis: true, rank: 1 });
      expect(after.items[0]?.reasons[0]).toMatch(/Crisis language/);
      expect(after.total).toBe(3);
      const e = EngagementSchema.parse(await (await f.call('GET', `/v1/patients/${bob}/engagement`)).json());
      expect(e.alerts[0]).toMatchObject({
        kind: 'crisis',
        severity: 'urgent',
        sentence: 'I keep thinking I want to die.',
      });
      // The caseload read is audited with patient ids, never the sentence.
      const audit = await f.db
        .selectFrom('audit_events')
        .select('details')
        .where('action', '=', 'phi.read')
        .where('target_type', '=', 'caseload')
        .execute();
      expect(audit.at(-1)?.details).toContain(bob);
      expect(JSON.stringify(audit)).not.toContain('want to die');
    });

    it('paginates and validates page parameters', async () => {
      const p2 = CaseloadSchema.parse(await (await f.call('GET', '/v1/caseload?page=2&pageSize=2')).json());
      expect(p2.items).toHaveLength(1);
      expect(p2.items[0]?.rank).toBe(3);
      expect((await f.call('GET', '/v1/caseload?pageSize=0')).status).toBe(400);
      expect((await f.call('GET', '/v1/caseload?page=abc')).status).toBe(400);
      expect((await f.call('GET', '/v1/caseload?foo=1')).status).toBe(400);
    });

    it('uses the weights an admin stores for the practice, and refuses a non-admin', async () => {
      const denied = await f.call('PUT', '/v1/caseload/weights', { missedAppointment: 0 });
      expect(denied.status).toBe(403);
      const base = CaseloadSchema.parse(await (await f.call('GET', '/v1/caseload')).json());
      const carolBefore = base.items.find((i) => i.patientId === carol);
      expect(carolBefore?.score).toBeGreaterThan(0);
      const admin = await f.token('admin@calm.example', true);
      const put = await f.call('PUT', '/v1/caseload/weights', { missedAppointment: 10 }, admin);
      expect(put.status).toBe(200);
      expect(((await put.json()) as { missedAppointment: number; drop: number }).drop).toBe(4);
      const after = CaseloadSchema.parse(await (await f.call('GET', '/v1/caseload')).json());
      const carolAfter = after.items.find((i) => i.patientId === carol);
      expect(carolAfter?.score).toBeGreaterThan(carolBefore?.score ?? 0);
      expect(carolAfter?.reasons.join(' ')).toMatch(/missed appointment/);
      // Another practice keeps the defaults.
      const theirs = await f.call(
        'GET',
        '/v1/caseload/weights',
        undefined,
        await f.token('dr@other.example'),
      );
      expect(((await theirs.json()) as { missedAppointment: number }).missedAppointment).toBe(1.5);
      expect((await f.call('PUT', '/v1/caseload/weights', { missedAppointment: -1 }, admin)).status).toBe(
        400,
      );
      expect((await f.call('PUT', '/v1/caseload/weights', { bogus: 1 }, admin)).status).toBe(400);
    });

    it("never lists another practice's patients", async () => {
      const mine = CaseloadSchema.parse(await (await f.call('GET', '/v1/caseload')).json());
      expect(mine.items.map((i) => i.patientId)).not.toContain(outsider);
      const theirs = CaseloadSchema.parse(
        await (await f.call('GET', '/v1/caseload', undefined, await f.token('dr@other.example'))).json(),
      );
      expect(theirs.items.map((i) => i.patientId)).toEqual([outsider]);
    });
  });

  describe('engagement settings', () => {
    it('lets an admin turn mailbox body reading on, refuses others, and keeps it per practice', async () => {
      expect(await (await f.call('GET', '/v1/engagement/settings')).json()).toEqual({ mailboxBodies: false });
      expect((await f.call('PUT', '/v1/engagement/settings', { mailboxBodies: true })).status).toBe(403);
      const admin = await f.token('admin@calm.example', true);
      expect((await f.call('PUT', '/v1/engagement/settings', { mailboxBodies: 'yes' }, admin)).status).toBe(
        400,
      );
      expect((await f.call('PUT', '/v1/engagement/settings', { mailboxBodies: true }, admin)).status).toBe(
        200,
      );
      expect(await (await f.call('GET', '/v1/engagement/settings')).json()).toEqual({ mailboxBodies: true });
      const theirs = await f.call(
        'GET',
        '/v1/engagement/settings',
        undefined,
        await f.token('dr@other.example'),
      );
      expect(await theirs.json()).toEqual({ mailboxBodies: false });
      // Turning it on keeps the practice's triage weights.
      const w = (await (await f.call('GET', '/v1/caseload/weights')).json()) as { missedAppointment: number };
      expect(w.missedAppointment).toBe(10);
    });
  });

  describe('POST /v1/fhir', () => {
    const bundle = (appointments: Array<Record<string, unknown>>) => ({
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        {
          fullUrl: 'urn:uuid:p-carol',
          resource: {
            resourceType: 'Patient',
            id: 'ehr-carol',
            telecom: [
              { system: 'phone', value: '555' },
              { system: 'email', value: 'CAROL@patients.example' },
            ],
          },
        },
        {
          resource: {
            resourceType: 'Patient',
            id: 'ehr-zed',
            telecom: [{ system: 'email', value: 'zed@patients.example' }],
          },
        },
        { resource: { resourceType: 'Practitioner', id: 'dr' } },
        ...appointments.map((a) => ({ resource: { resourceType: 'Appointment', ...a } })),
      ],
    });
    const at = (daysAgo: number) => new Date(NOW.getTime() - daysAgo * DAY).toISOString();

    it('imports noshow, fulfilled, cancelled and booked appointments matched by email, idempotently', async () => {
      const b = bundle([
        {
          id: 'f1',
          status: 'noshow',
          start: at(7),
          participant: [
            { actor: { reference: 'Patient/ehr-carol' } },
            { actor: { reference: 'Practitioner/dr' } },
          ],
        },
        {
          id: 'f2',
          status: 'fulfilled',
          start: at(14),
          participant: [{ actor: { reference: 'urn:uuid:p-carol' } }],
        },
        {
          id: 'f3',
          status: 'cancelled',
          start: at(1),
          meta: { lastUpdated: at(3) },
          participant: [{ actor: { reference: 'Patient/ehr-carol' } }],
        },
        {
          id: 'f4',
          status: 'booked',
          start: at(-7),
          created: at(2),
          participant: [{ actor: { reference: 'Patient/ehr-carol' } }],
        },
        {
          id: 'f5',
          status: 'proposed',
          start: at(-9),
          participant: [{ actor: { reference: 'Patient/ehr-carol' } }],
        },
        {
          id: 'f6',
          status: 'noshow',
          start: at(7),
          participant: [{ actor: { reference: 'Patient/ehr-zed' } }],
        },
      ]);
      const before = EngagementSchema.parse(
        await (await f.call('GET', `/v1/patients/${carol}/engagement`)).json(),
      ).appointments;
      const res = await f.call('POST', '/v1/fhir', b);
      expect(res.status).toBe(201);
      const r = (await res.json()) as {
        accepted: number;
        duplicates: number;
        unmatched: Array<{ entry: number; reason: string }>;
        skipped: Array<{ entry: number }>;
      };
      expect(r.accepted).toBe(4);
      expect(r.unmatched).toEqual([
        {
          entry: 8,
          resourceType: 'Appointment',
          reason: 'The patient is not a patient of this practice (matched by email).',
        },
      ]);
      // The Practitioner (entry 2) is read now (care teams: fhir-care.int.test.ts); the proposed one is skipped.
      expect(r.skipped.map((s) => s.entry)).toEqual([7]);
      expect(JSON.stringify(r)).not.toContain('zed@');
      const after = EngagementSchema.parse(
        await (await f.call('GET', `/v1/patients/${carol}/engagement`)).json(),
      ).appointments;
      expect(after.missed - before.missed).toBe(1);
      expect(after.attended - before.attended).toBe(1);
      expect(after.cancelled - before.cancelled).toBe(1);
      expect(after.scheduled - before.scheduled).toBe(1);
      const again = (await (await f.call('POST', '/v1/fhir', b)).json()) as {
        accepted: number;
        duplicates: number;
      };
      expect(again).toMatchObject({ accepted: 0, duplicates: 4 });
    });

    it('records a reschedule when a booked appointment comes back with another start', async () => {
      const moved = bundle([
        {
          id: 'f4',
          status: 'booked',
          start: at(-10),
          created: at(2),
          meta: { lastUpdated: at(1) },
          participant: [{ actor: { reference: 'Patient/ehr-carol' } }],
        },
      ]);
      const r = (await (await f.call('POST', '/v1/fhir', moved)).json()) as { accepted: number };
      expect(r.accepted).toBe(1);
      const e = EngagementSchema.parse(
        await (await f.call('GET', `/v1/patients/${carol}/engagement`)).json(),
      );
      expect(e.appointments.rescheduled).toBe(1);
    });

    it('counts a visit once when later exports move it from arrived to checked-in to fulfilled', async () => {
      const visit = (status: string) =>
        bundle([
          {
            id: 'f7',
            status,
            start: at(5),
            participant: [{ actor: { reference: 'Patient/ehr-carol' } }],
          },
        ]);
      const attended = async () =>
        EngagementSchema.parse(await (await f.call('GET', `/v1/patients/${carol}/engagement`)).json())
          .appointments.attended;
      const before = await attended();
      for (const status of ['arrived', 'checked-in', 'fulfilled']) {
        expect((await f.call('POST', '/v1/fhir', visit(status))).status).toBeLessThan(300);
      }
      expect((await attended()) - before).toBe(1);
    });

    it('refuses what is not a Bundle and reports malformed appointments by entry', async () => {
      expect((await f.call('POST', '/v1/fhir', { resourceType: 'Patient' })).status).toBe(400);
      const r = (await (
        await f.call(
          'POST',
          '/v1/fhir',
          bundle([
            { id: 'bad', status: 'noshow', participant: 'x' },
            { id: 'odd', status: 'teleported', participant: [] },
          ]),
        )
      ).json()) as {
        invalid: Array<{ entry: number }>;
      };
      expect(r.invalid.map((i) => i.entry)).toEqual([3, 4]);
    });
  });
});
