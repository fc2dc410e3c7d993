// Migration 0010's backfill: an upgrade must hide nobody's patients. Every clinician who sent a
// secure message to a patient, and every clinician the audit trail shows creating one, joins that
// patient's care team; nothing crosses practices, a patient nobody wrote to or registered gets no
// team, and a rerun adds nothing. Old rows are made through the API, then the relations are removed,
// as a store from before 0010 holds them. On each dialect under test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../http/testing.ts';
import { insertTestPatient } from '../test-rows.ts';
import { dialectsUnderTest } from '../testing.ts';
import { backfillCareRelations } from './0010-care-teams.ts';

describe.each(dialectsUnderTest())('migration 0010 care-team backfill on %s', (dialect) => {
  let t: TestApp;
  const call = async (token: string, path: string, body: unknown) => {
    const res = await t.app.request(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
  };
  const relations = () =>
    t.store.db
      .selectFrom('care_relations as r')
      .innerJoin('clinicians as c', 'c.id', 'r.clinician_id')
      .innerJoin('patients as p', 'p.id', 'r.patient_id')
      .select(['c.email as clinician', 'p.email as patient', 'r.source', 'r.practice_id', 'r.created_by'])
      .orderBy('p.email')
      .orderBy('c.email')
      .execute();

  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('rebuilds the relations from sent messages and audited creations, per practice, once', async () => {
    const drA = await t.token('dr.a@a.example.org');
    const drB = await t.token('dr.b@a.example.org');
    const drX = await t.token('dr.x@b.example.org');
    const send = (token: string, to: string[], cc: string[] = []) =>
      call(token, '/v1/messages', { to, cc, subject: 'Check-in', text: 'See you Thursday.' });
    await send(drA, ['pat.one@patients.example']);
    await send(drA, ['pat.one@patients.example']);
    await send(drB, ['pat.two@patients.example'], ['pat.one@patients.example']);
    await call(drB, '/v1/patients', { email: 'pat.three@patients.example' });
    await send(drX, ['pat.one@patients.example']);
    await insertTestPatient(t.store.db, t.practiceA, { email: 'pat.four@patients.example' });
    const made = await relations();
    expect(made.length).toBe(5);

    await t.store.db.deleteFrom('care_relations').execute();
    await backfillCareRelations(t.store.db);
    const expected = [
      { clinician: 'dr.a@a.example.org', patient: 'pat.one@patients.example', source: 'sent' },
      { clinician: 'dr.b@a.example.org', patient: 'pat.one@patients.example', source: 'sent' },
      { clinician: 'dr.x@b.example.org', patient: 'pat.one@patients.example', source: 'sent' },
      { clinician: 'dr.b@a.example.org', patient: 'pat.three@patients.example', source: 'created' },
      { clinician: 'dr.b@a.example.org', patient: 'pat.two@patients.example', source: 'sent' },
    ];
    const after = await relations();
    expect(after.map(({ clinician, patient, source }) => ({ clinician, patient, source }))).toEqual(expected);
    expect(after.every((r) => r.created_by === null)).toBe(true);
    // The same practice as the patient (practice B's dr.x has practice B's pat.one, not A's).
    const patientPractice = await t.store.db
      .selectFrom('care_relations as r')
      .innerJoin('patients as p', 'p.id', 'r.patient_id')
      .innerJoin('clinicians as c', 'c.id', 'r.clinician_id')
      .select(['r.practice_id', 'p.practice_id as pp', 'c.practice_id as cp'])
      .execute();
    for (const r of patientPractice) expect([r.pp, r.cp]).toEqual([r.practice_id, r.practice_id]);

    await backfillCareRelations(t.store.db);
    expect((await relations()).length).toBe(5);
  });
});
