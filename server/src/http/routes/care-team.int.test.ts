// Per-clinician authorization (DESIGN: "a clinician sees the patients they care for"). Clinician A
// writes to a patient and so cares for them; clinician B of the same practice gets exactly what an
// unknown id gets on every route that reads the patient (record, sidebar by id / email / lookup,
// reply, message status, revoke, caseload, events), audited as not_care_team; after an admin adds
// B to the care team B sees it; under the policy's patientAccess 'practice' everyone does; an admin
// can list the whole practice's caseload. Real app, real store, on each dialect under test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CareTeamSchema, CaseloadSchema, SendMessageResponseSchema } from '@attune/shared/api';
import { AUDIT } from '../../audit/index.ts';
import { acceptReply, deliveryFor } from '../../delivery/index.ts';
import { dialectsUnderTest } from '../../store/testing.ts';
import { createTestApp, type TestApp } from '../testing.ts';

const LINK = /\/m\/([A-Za-z0-9_-]{43})/;
const PATIENT = 'rowan.ellery@patients.example';

describe.each(dialectsUnderTest())('care teams on %s', (dialect) => {
  let t: TestApp;
  let drA: string;
  let drB: string;
  let drC: string;
  let admin: string;
  let patientId: string;
  let messageId: string;
  let replyId: string;

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await t.app.request(path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { res, requestId: res.headers.get('x-request-id') ?? '' };
  };
  const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
  const auditOf = (requestId: string) =>
    t.store.db.selectFrom('audit_events').selectAll().where('request_id', '=', requestId).execute();
  const caseloadIds = async (token: string, query = '') => {
    const { res } = await call('GET', `/v1/caseload${query}`, token);
    expect(res.status).toBe(200);
    return CaseloadSchema.parse(await res.json()).items.map((i) => i.patientId);
  };
  const careTeamPath = (email: string) => `/v1/patients/${patientId}/care-team/${encodeURIComponent(email)}`;

  /** Every read of the patient, as `token`: the status each answered and the error code. */
  async function reads(token: string): Promise<Array<[string, number, string | null]>> {
    const out: Array<[string, number, string | null]> = [];
    const probes: Array<[string, string, string, unknown?]> = [
      ['record', 'GET', `/v1/patients/${patientId}`],
      ['sidebar', 'GET', `/v1/patients/${patientId}/engagement`],
      ['by-email', 'GET', `/v1/patients/by-email/${encodeURIComponent(PATIENT)}/engagement`],
      ['lookup', 'POST', '/v1/engagement/lookup', { email: PATIENT }],
      ['reply', 'GET', `/v1/replies/${replyId}`],
      ['status', 'GET', `/v1/messages/${messageId}`],
    ];
    for (const [name, method, path, body] of probes) {
      const { res } = await call(method, path, token, body);
      out.push([name, res.status, res.status === 200 ? null : await code(res)]);
    }
    return out;
  }
  const hidden: Array<[string, number, string | null]> = [
    ['record', 404, 'patient_not_found'],
    ['sidebar', 404, 'patient_not_found'],
    ['by-email', 404, 'patient_not_found'],
    ['lookup', 404, 'patient_not_found'],
    ['reply', 404, 'reply_not_found'],
    ['status', 404, 'message_not_found'],
  ];
  const shown: Array<[string, number, string | null]> = hidden.map(([n]) => [n, 200, null]);

  beforeAll(async () => {
    t = await createTestApp(dialect);
    drA = await t.token('dr.a@a.example.org');
    drB = await t.token('dr.b@a.example.org');
    drC = await t.token('dr.c@a.example.org');
    admin = await t.token('boss@a.example.org', { admin: true });
    // Everyone signs in once (clinicians exist from their first sign-in).
    for (const tok of [drA, drB, drC, admin])
      expect((await call('GET', '/v1/policy', tok)).res.status).toBe(200);
    const { res } = await call('POST', '/v1/messages', drA, {
      to: [PATIENT],
      subject: 'Check-in',
      text: 'How was the week?',
      delivery: 'client',
    });
    expect(res.status).toBe(202);
    const sent = SendMessageResponseSchema.parse(await res.json());
    messageId = sent.id;
    const token = LINK.exec(sent.notice?.html ?? '')?.[1];
    const reply = await acceptReply(deliveryFor(t.deps).services, {
      token: token ?? '',
      text: 'Better, thank you.',
      source: 'viewer',
    });
    if (!reply.ok) throw new Error(`reply refused: ${reply.reason}`);
    replyId = reply.replyId;
    patientId = reply.patientId;
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('makes the sender a care-team member of the patient they wrote to, in the send itself', async () => {
    const rows = await t.store.db
      .selectFrom('care_relations')
      .innerJoin('clinicians', 'clinicians.id', 'care_relations.clinician_id')
      .select(['clinicians.email', 'care_relations.source'])
      .where('care_relations.patient_id', '=', patientId)
      .execute();
    expect(rows).toEqual([{ email: 'dr.a@a.example.org', source: 'sent' }]);
    expect(await reads(drA)).toEqual(shown);
    expect(await caseloadIds(drA)).toEqual([patientId]);
  });

  it('answers a colleague outside the care team exactly like an unknown id, on every read, and audits each as not_care_team', async () => {
    expect(await reads(drB)).toEqual(hidden);
    // The same answer as an id nobody has.
    const unknown = await call('GET', '/v1/patients/00000000-0000-4000-8000-000000000000', drB);
    const refused = await call('GET', `/v1/patients/${patientId}`, drB);
    expect([refused.res.status, await refused.res.text()]).toEqual([
      unknown.res.status,
      await unknown.res.text(),
    ]);
    const audit = await auditOf(refused.requestId);
    expect(audit.map((a) => [a.action, a.outcome, a.target_type, a.target_id])).toEqual([
      [AUDIT.AUTHZ_FAILURE, 'failure', 'patient', patientId],
    ]);
    expect(JSON.parse(audit[0]!.details)).toEqual({ reason: 'not_care_team' });
    expect(JSON.stringify(audit)).not.toContain(PATIENT);
    expect(await caseloadIds(drB)).toEqual([]);
    // No revoke of someone else's message to a patient B does not care for; no appointments either.
    const revoke = await call('POST', `/v1/messages/${messageId}/revoke`, drB);
    expect([revoke.res.status, await code(revoke.res)]).toEqual([404, 'message_not_found']);
    const events = await call('POST', '/v1/events', drB, {
      events: [{ id: 'e1', patientId, type: 'appointment_attended', at: '2026-05-01T10:00:00Z' }],
    });
    expect([events.res.status, await code(events.res)]).toEqual([422, 'patient_not_found']);
    const byEmail = await call('POST', '/v1/events', drB, {
      events: [{ id: 'e2', patientId: PATIENT, type: 'appointment_attended', at: '2026-05-01T10:00:00Z' }],
    });
    expect(byEmail.res.status).toBe(422);
  });

  it("refuses a colleague's update of the patient record (403, audited) and leaves it unchanged", async () => {
    const r = await call('POST', '/v1/patients', drB, { email: PATIENT, name: 'Someone Else' });
    expect([r.res.status, await code(r.res)]).toEqual([403, 'forbidden']);
    const row = await t.store.db
      .selectFrom('patients')
      .select('name')
      .where('id', '=', patientId)
      .executeTakeFirst();
    expect(row?.name).toBeNull();
    const audit = await auditOf(r.requestId);
    expect(audit.map((a) => [a.action, JSON.parse(a.details) as unknown])).toEqual([
      [AUDIT.AUTHZ_FAILURE, { reason: 'not_care_team', operation: 'update' }],
    ]);
    // A new patient B registers is B's: created, and in B's caseload only.
    const mine = await call('POST', '/v1/patients', drB, { email: 'new.one@patients.example' });
    expect(mine.res.status).toBe(201);
    const newId = ((await mine.res.json()) as { id: string }).id;
    expect(await caseloadIds(drB)).toEqual([newId]);
    expect(await caseloadIds(drA)).toEqual([patientId]);
  });

  it('lets an admin add a colleague to the care team (audited), who then sees the patient, and remove them again', async () => {
    const added = await call('PUT', careTeamPath('dr.b@a.example.org'), admin);
    expect(added.res.status).toBe(200);
    const team = CareTeamSchema.parse(await added.res.json());
    expect(team.patientAccess).toBe('care-team');
    expect(team.members.map((m) => [m.email, m.source])).toEqual([
      ['dr.a@a.example.org', 'sent'],
      ['dr.b@a.example.org', 'assigned'],
    ]);
    const adminId = (
      await t.store.db
        .selectFrom('clinicians')
        .select('id')
        .where('email', '=', 'boss@a.example.org')
        .executeTakeFirstOrThrow()
    ).id;
    expect(team.members[1]?.assignedBy).toBe(adminId);
    const audit = await auditOf(added.requestId);
    expect(audit.map((a) => [a.action, a.target_type, a.target_id])).toEqual([
      [AUDIT.CARE_CHANGE, 'patient', patientId],
    ]);
    expect(JSON.parse(audit[0]!.details)).toMatchObject({ operation: 'add', changed: true });

    expect(await reads(drB)).toEqual(shown);
    expect(await caseloadIds(drB)).toContain(patientId);
    // B cares for the patient and sees the message's status, but only its sender or an admin revokes.
    const revoke = await call('POST', `/v1/messages/${messageId}/revoke`, drB);
    expect([revoke.res.status, await code(revoke.res)]).toEqual([403, 'forbidden']);

    // Idempotent, then removed: hidden again.
    expect((await call('PUT', careTeamPath('dr.b@a.example.org'), admin)).res.status).toBe(200);
    const removed = await call('DELETE', careTeamPath('dr.b@a.example.org'), admin);
    expect(CareTeamSchema.parse(await removed.res.json()).members.map((m) => m.email)).toEqual([
      'dr.a@a.example.org',
    ]);
    expect(await reads(drB)).toEqual(hidden);
  });

  it('validates care-team changes: admins only, a known clinician, an email, a patient of the practice', async () => {
    const notAdmin = await call('PUT', careTeamPath('dr.b@a.example.org'), drA);
    expect([notAdmin.res.status, await code(notAdmin.res)]).toEqual([403, 'forbidden']);
    expect((await call('GET', `/v1/patients/${patientId}/care-team`, drA)).res.status).toBe(403);
    const stranger = await call('PUT', careTeamPath('nobody@a.example.org'), admin);
    expect([stranger.res.status, await code(stranger.res)]).toEqual([404, 'clinician_not_found']);
    const otherPractice = await call('PUT', careTeamPath('dr.x@b.example.org'), admin);
    expect(otherPractice.res.status).toBe(404);
    const bad = await call('PUT', careTeamPath('not-an-email'), admin);
    expect([bad.res.status, await code(bad.res)]).toEqual([400, 'validation_failed']);
    const unknown = await call(
      'PUT',
      `/v1/patients/00000000-0000-4000-8000-000000000000/care-team/${encodeURIComponent('dr.b@a.example.org')}`,
      admin,
    );
    expect([unknown.res.status, await code(unknown.res)]).toEqual([404, 'patient_not_found']);
  });

  it("gives an admin the whole practice's caseload with scope=practice (audited), and refuses it to clinicians", async () => {
    // The admin cares for nobody: their own caseload is empty; the practice's has every patient.
    expect(await caseloadIds(admin)).toEqual([]);
    const all = await caseloadIds(admin, '?scope=practice');
    expect(all).toContain(patientId);
    expect(all.length).toBe(2);
    const refused = await call('GET', '/v1/caseload?scope=practice', drB);
    expect([refused.res.status, await code(refused.res)]).toEqual([403, 'forbidden']);
    expect((await auditOf(refused.requestId)).map((a) => a.action)).toEqual([AUDIT.AUTHZ_FAILURE]);
  });

  it("shows every patient to every clinician under patientAccess 'practice', at once, and hides them again when switched back", async () => {
    const policy = async (patientAccess: string) => {
      const { res } = await call('PUT', '/v1/policy', admin, { patientAccess });
      expect(res.status).toBe(200);
      expect(
        ((await (await call('GET', '/v1/policy', drC)).res.json()) as { patientAccess: string })
          .patientAccess,
      ).toBe(patientAccess);
    };
    expect(await reads(drC)).toEqual(hidden);
    await policy('practice');
    expect(await reads(drC)).toEqual(shown);
    expect((await caseloadIds(drC)).sort()).toEqual((await caseloadIds(admin, '?scope=practice')).sort());
    const team = CareTeamSchema.parse(
      await (await call('GET', `/v1/patients/${patientId}/care-team`, admin)).res.json(),
    );
    expect(team.patientAccess).toBe('practice');
    await policy('care-team');
    expect(await reads(drC)).toEqual(hidden);
    expect((await call('PUT', '/v1/policy', admin, { patientAccess: 'everyone' })).res.status).toBe(400);
  });
});
