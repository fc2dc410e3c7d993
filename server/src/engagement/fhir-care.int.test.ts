// Care teams from a FHIR import (engagement/fhir.ts): an admin's POST /v1/fhir puts each
// appointment's practitioners that are clinicians of the practice (by telecom email, through a
// PractitionerRole too) in the care team of the appointment's patients, audited as care.change; a
// practitioner who is no clinician of the practice changes nothing; a clinician's import changes
// no care team; the response keeps its contract. Real app, real store, on each dialect under test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT } from '../audit/index.ts';
import { createTestApp, type TestApp } from '../http/testing.ts';
import { dialectsUnderTest } from '../store/testing.ts';

const START = '2026-05-20T15:00:00Z';

describe.each(dialectsUnderTest())('care teams from a FHIR import on %s', (dialect) => {
  let t: TestApp;
  let drA: string;
  let drB: string;
  let admin: string;
  const ids: Record<string, string> = {};
  const clinicianIds: Record<string, string> = {};

  const call = async (method: string, path: string, token: string, body?: unknown) =>
    t.app.request(path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const team = async (patient: string) =>
    (
      await t.store.db
        .selectFrom('care_relations as r')
        .innerJoin('clinicians as c', 'c.id', 'r.clinician_id')
        .select(['c.email', 'r.source', 'r.created_by'])
        .where('r.patient_id', '=', ids[patient]!)
        .orderBy('c.email')
        .execute()
    ).map((r) => `${r.email}:${r.source}${r.created_by ? ':by-admin' : ''}`);

  const patient = (id: string, email: string) => ({
    resource: { resourceType: 'Patient', id, telecom: [{ system: 'email', value: email }] },
  });
  const appointment = (id: string, refs: string[]) => ({
    resource: {
      resourceType: 'Appointment',
      id,
      status: 'fulfilled',
      start: START,
      participant: refs.map((reference) => ({ actor: { reference } })),
    },
  });
  const bundle = {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      patient('ehr-1', 'one@patients.example'),
      patient('ehr-2', 'TWO@patients.example'),
      patient('ehr-3', 'three@patients.example'),
      {
        resource: {
          resourceType: 'Practitioner',
          id: 'drb',
          telecom: [
            { system: 'phone', value: '555' },
            { system: 'email', value: 'Dr.B@a.example.org' },
          ],
        },
      },
      // A role without its own email: its Practitioner's.
      {
        fullUrl: 'urn:uuid:role-b',
        resource: { resourceType: 'PractitionerRole', practitioner: { reference: 'Practitioner/drb' } },
      },
      {
        resource: {
          resourceType: 'Practitioner',
          id: 'locum',
          telecom: [{ system: 'email', value: 'locum@elsewhere.example' }],
        },
      },
      appointment('v1', ['Patient/ehr-1', 'Practitioner/drb']),
      appointment('v2', ['Patient/ehr-2', 'urn:uuid:role-b', 'Practitioner/locum']),
      appointment('v3', ['Patient/ehr-3', 'Practitioner/locum']),
    ],
  };

  beforeAll(async () => {
    t = await createTestApp(dialect);
    drA = await t.token('dr.a@a.example.org');
    drB = await t.token('dr.b@a.example.org');
    admin = await t.token('boss@a.example.org', { admin: true });
    for (const tok of [drA, drB, admin]) expect((await call('GET', '/v1/policy', tok)).status).toBe(200);
    for (const c of await t.store.db.selectFrom('clinicians').select(['id', 'email']).execute())
      clinicianIds[c.email] = c.id;
    // Dr A registers patient one (and cares for them); the admin registers two and three and
    // takes themselves off their teams: nobody cares for them.
    for (const [name, email, tok] of [
      ['one', 'one@patients.example', drA],
      ['two', 'two@patients.example', admin],
      ['three', 'three@patients.example', admin],
    ] as const) {
      const r = await call('POST', '/v1/patients', tok, { email });
      expect(r.status).toBeLessThan(300);
      ids[name] = ((await r.json()) as { id: string }).id;
      if (tok === admin) {
        const off = await call(
          'DELETE',
          `/v1/patients/${ids[name]}/care-team/${encodeURIComponent('boss@a.example.org')}`,
          admin,
        );
        expect(off.status).toBe(200);
      }
    }
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it("a clinician's import records appointments of their patients and changes no care team", async () => {
    const r = await call('POST', '/v1/fhir', drA, bundle);
    expect(r.status).toBe(201);
    const body = (await r.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual([
      'accepted',
      'appointments',
      'duplicates',
      'invalid',
      'skipped',
      'unmatched',
    ]);
    expect(body).toMatchObject({ accepted: 1, skipped: [], invalid: [] });
    expect(await team('one')).toEqual(['dr.a@a.example.org:created']);
    expect(await team('two')).toEqual([]);
  });

  it("an admin's import puts the appointments' practitioners that are clinicians of the practice in the patients' care teams, audited; again adds nothing", async () => {
    const r = await call('POST', '/v1/fhir', admin, bundle);
    expect(r.status).toBe(201);
    const requestId = r.headers.get('x-request-id') ?? '';
    // The response keeps its contract (counts of the import, no care-team fields).
    const body = (await r.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual([
      'accepted',
      'appointments',
      'duplicates',
      'invalid',
      'skipped',
      'unmatched',
    ]);
    expect(body).toMatchObject({ appointments: 3, accepted: 2, duplicates: 1, unmatched: [], skipped: [] });

    expect(await team('one')).toEqual(['dr.a@a.example.org:created', 'dr.b@a.example.org:imported:by-admin']);
    // Through the PractitionerRole; the locum is no clinician of the practice.
    expect(await team('two')).toEqual(['dr.b@a.example.org:imported:by-admin']);
    expect(await team('three')).toEqual([]);
    expect((await call('GET', `/v1/patients/${ids['two']}`, drB)).status).toBe(200);

    const audit = await t.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('request_id', '=', requestId)
      .orderBy('seq')
      .execute();
    const b = clinicianIds['dr.b@a.example.org'];
    const joins = audit.filter((e) => e.action === AUDIT.CARE_CHANGE);
    expect(joins.map((e) => e.target_id).sort()).toEqual([ids['one'], ids['two']].sort());
    for (const e of joins) {
      expect([e.actor_type, e.actor_id]).toEqual(['clinician', clinicianIds['boss@a.example.org']]);
      expect(JSON.parse(e.details)).toEqual({
        operation: 'add',
        clinicianId: b,
        changed: true,
        source: 'imported',
        via: 'fhir_import',
      });
    }
    const write = audit.find((e) => e.action === AUDIT.PHI_WRITE)!;
    expect(JSON.parse(write.details)).toMatchObject({ care_joined: 2, without_care_team: 1 });
    // Over HTTP the import is the caller's (the CLI's twin names the OS user: cli/import.ts).
    expect([write.actor_type, write.actor_id]).toEqual(['clinician', clinicianIds['boss@a.example.org']]);
    expect(JSON.stringify(audit)).not.toContain('@');

    const again = await call('POST', '/v1/fhir', admin, bundle);
    expect(again.status).toBe(200);
    const second = await t.store.db
      .selectFrom('audit_events')
      .select('action')
      .where('request_id', '=', again.headers.get('x-request-id') ?? '')
      .execute();
    expect(second.map((e) => e.action)).toEqual([AUDIT.PHI_WRITE]);
    expect(await team('two')).toEqual(['dr.b@a.example.org:imported:by-admin']);
  });
});
