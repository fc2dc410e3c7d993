import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attune } from './testing.ts';
import { AUDIT } from '../audit/index.ts';
import { testConfig } from '../config.ts';
import { startServer, type RunningServer } from '../index.ts';
import { ensurePractice, nowIso } from '../store/index.ts';
import { ensureClinician } from '../store/clinicians.ts';
import { createTestSchema, dialectsUnderTest } from '../store/testing.ts';

// Each case runs the CLI several times (a Node start with tsx, ~1-2 s each).
const SLOW = 180_000;

const PATIENT = 'rowan.ellery@patients.example';

// `attune practice care-team`: the real CLI against the store of a running server, which applies
// the change to the next request (no cache of care teams).
describe.each(dialectsUnderTest())('attune practice care-team (the real CLI) on %s', (dialect) => {
  let dir: string;
  let env: Record<string, string>;
  let server: RunningServer;
  let drop: (() => Promise<void>) | undefined;
  let patientId: string;
  let drA: string;
  let drB: string;

  const token = async (email: string) => {
    const r = await fetch(`${server.url}/v1/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email }),
    });
    return ((await r.json()) as { token: string }).token;
  };
  const call = (method: string, path: string, bearer: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${bearer}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const careEvents = () =>
    server.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', AUDIT.CARE_CHANGE)
      .orderBy('at')
      .orderBy('seq')
      .execute();
  const team = async () => {
    const r = await attune(['practice', 'care-team', 'example.org', 'list', PATIENT, '--json'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return (JSON.parse(r.stdout) as { members: { email: string; source: string }[] }).members.map(
      (m) => `${m.email}:${m.source}`,
    );
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'attune-care-team-'));
    env = { DATA_DIR: dir, CHECKPOINT_INTERVAL_SECONDS: '0' };
    if (dialect === 'postgres') {
      const schema = await createTestSchema();
      drop = schema.drop;
      env = { ...env, DATABASE_URL: schema.databaseUrl, DATABASE_SCHEMA: schema.schema };
    }
    server = await startServer(testConfig(dir, env));
    drA = await token('dr.a@example.org');
    drB = await token('dr.b@example.org');
    // Dr A registers the patient (and so cares for them); Dr B signs in (an account) and sees nothing.
    const created = await call('POST', '/v1/patients', drA, { email: PATIENT });
    expect(created.status).toBeLessThan(300);
    patientId = ((await created.json()) as { id: string }).id;
    expect((await call('GET', '/v1/policy', drB)).status).toBe(200);
  }, SLOW);
  afterAll(async () => {
    await server?.close();
    await drop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'lists, adds and removes a clinician: the running server applies each change to the next request, audited as the API does',
    async () => {
      expect(await team()).toEqual(['dr.a@example.org:created']);
      expect((await call('GET', `/v1/patients/${patientId}`, drB)).status).toBe(404);

      const add = await attune(
        ['practice', 'care-team', server.practiceId, 'add', PATIENT, 'Dr.B@example.org'],
        env,
      );
      expect(add.stderr).toBe('');
      expect(add.code).toBe(0);
      expect(add.stdout).toContain(`Added dr.b@example.org to the care team of patient ${patientId}.`);
      expect(add.stdout).toContain('dr.b@example.org  clinician  assigned');
      // No patient address in what the command prints.
      expect(add.stdout).not.toContain(PATIENT);
      expect((await call('GET', `/v1/patients/${patientId}`, drB)).status).toBe(200);
      const again = await attune(
        ['practice', 'care-team', 'example.org', 'add', PATIENT, 'dr.b@example.org'],
        env,
      );
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('was already in the care team');
      expect(await team()).toEqual(['dr.a@example.org:created', 'dr.b@example.org:assigned']);

      const remove = await attune(
        ['practice', 'care-team', 'example.org', 'remove', PATIENT, 'dr.b@example.org', '--json'],
        env,
      );
      expect(remove.code).toBe(0);
      expect(JSON.parse(remove.stdout)).toMatchObject({
        patientId,
        patientAccess: 'care-team',
        changed: true,
      });
      expect((await call('GET', `/v1/patients/${patientId}`, drB)).status).toBe(404);

      // care.change like the API's: the patient's id as target, the clinician's id, whether it
      // changed; actor cli and the OS user; never an address.
      const b = await server.store.db
        .selectFrom('clinicians')
        .select('id')
        .where('email', '=', 'dr.b@example.org')
        .executeTakeFirstOrThrow();
      const events = await careEvents();
      expect(
        events.map((e) => [e.outcome, e.actor_type, e.actor_id, e.target_id, JSON.parse(e.details)]),
      ).toEqual([
        [
          'success',
          'cli',
          userInfo().username,
          patientId,
          { operation: 'add', clinicianId: b.id, changed: true },
        ],
        [
          'success',
          'cli',
          userInfo().username,
          patientId,
          { operation: 'add', clinicianId: b.id, changed: false },
        ],
        [
          'success',
          'cli',
          userInfo().username,
          patientId,
          { operation: 'remove', clinicianId: b.id, changed: true },
        ],
      ]);
      for (const e of events) expect(e.practice_id).toBe(server.practiceId);
      const reads = await server.store.db
        .selectFrom('audit_events')
        .selectAll()
        .where('action', '=', AUDIT.PHI_READ)
        .where('actor_type', '=', 'cli')
        .execute();
      expect(reads.length).toBe(2);
      expect(JSON.stringify([...events, ...reads])).not.toContain('@');
    },
    SLOW,
  );

  it(
    'refuses an unknown patient, an unknown clinician and a clinician of another practice with a clear message (exit 1); bad arguments exit 2',
    async () => {
      const other = await ensurePractice(server.store.db, { name: 'Other', domains: ['other.example'] });
      await ensureClinician(server.store.db, other.practiceId, 'dr.z@other.example', nowIso());
      const before = (await careEvents()).length;

      const noPatient = await attune(
        ['practice', 'care-team', 'example.org', 'add', 'nobody@patients.example', 'dr.b@example.org'],
        env,
      );
      expect(noPatient.code).toBe(1);
      expect(noPatient.stderr).toContain(
        `no patient with that email address in practice ${server.practiceId}`,
      );
      expect(noPatient.stderr).not.toContain('nobody@');
      const noClinician = await attune(
        ['practice', 'care-team', 'example.org', 'add', PATIENT, 'dr.nobody@example.org'],
        env,
      );
      expect(noClinician.code).toBe(1);
      expect(noClinician.stderr).toContain(
        `no clinician dr.nobody@example.org in practice ${server.practiceId} (a clinician is known after their first sign-in`,
      );
      const elsewhere = await attune(
        ['practice', 'care-team', 'example.org', 'add', PATIENT, 'dr.z@other.example'],
        env,
      );
      expect(elsewhere.code).toBe(1);
      expect(elsewhere.stderr).toContain(
        `clinician dr.z@other.example belongs to practice ${other.practiceId}, not ${server.practiceId}`,
      );
      // The patient is the configured practice's, not Other's: Other has no such patient.
      const wrongPractice = await attune(['practice', 'care-team', 'other.example', 'list', PATIENT], env);
      expect(wrongPractice.code).toBe(1);
      expect(wrongPractice.stderr).toContain(
        `no patient with that email address in practice ${other.practiceId}`,
      );
      const noPractice = await attune(['practice', 'care-team', 'nowhere.example', 'list', PATIENT], env);
      expect(noPractice.code).toBe(1);
      expect(noPractice.stderr).toContain('no practice nowhere.example');
      // Refusals are audited (reason codes, no address); nothing changed.
      const refusals = (await careEvents()).slice(before);
      expect(refusals.map((e) => [e.outcome, JSON.parse(e.details).reason])).toEqual([
        ['failure', 'patient_not_found'],
        ['failure', 'clinician_not_found'],
        ['failure', 'clinician_not_in_practice'],
        ['failure', 'patient_not_found'],
      ]);
      expect(JSON.stringify(refusals)).not.toContain('@');
      expect(await team()).toEqual(['dr.a@example.org:created']);

      for (const args of [
        ['example.org', 'add', PATIENT, 'dr.b@example.org', '--force'],
        ['example.org', 'add', PATIENT],
        ['example.org', 'list', PATIENT, 'dr.b@example.org'],
        ['example.org', 'promote', PATIENT],
        ['example.org', 'list', 'not-an-email'],
        [],
      ]) {
        const r = await attune(['practice', 'care-team', ...args], env);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr).toContain('usage:');
        expect(r.stdout).toBe('');
      }
      const help = await attune(['practice', 'care-team', 'example.org', 'add', '--help'], env);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('attune practice care-team PRACTICE add PATIENT_EMAIL CLINICIAN_EMAIL');
      expect((await careEvents()).length).toBe(before + 4);
    },
    SLOW,
  );
  it(
    'attune import fhir joins the practitioners that are clinicians to their patients and says how many patients have no care team',
    async () => {
      // A second patient nobody cares for (the admin's API would leave one so; here, directly).
      const created = await call('POST', '/v1/patients', drA, { email: 'quinn@patients.example' });
      const quinn = ((await created.json()) as { id: string }).id;
      await server.store.db.deleteFrom('care_relations').where('patient_id', '=', quinn).execute();
      const file = join(dir, 'bundle.json');
      const patient = (id: string, email: string) => ({
        resource: { resourceType: 'Patient', id, telecom: [{ system: 'email', value: email }] },
      });
      writeFileSync(
        file,
        JSON.stringify({
          resourceType: 'Bundle',
          entry: [
            patient('p1', PATIENT),
            patient('p2', 'quinn@patients.example'),
            {
              resource: {
                resourceType: 'Practitioner',
                id: 'b',
                telecom: [{ system: 'email', value: 'dr.b@example.org' }],
              },
            },
            {
              resource: {
                resourceType: 'Practitioner',
                id: 'x',
                telecom: [{ system: 'email', value: 'dr.x@elsewhere.example' }],
              },
            },
            ...[
              ['v1', 'Patient/p1', 'Practitioner/b'],
              ['v2', 'Patient/p2', 'Practitioner/x'],
            ].map(([id, p, dr]) => ({
              resource: {
                resourceType: 'Appointment',
                id,
                status: 'noshow',
                start: '2026-05-01T10:00:00Z',
                participant: [{ actor: { reference: p } }, { actor: { reference: dr } }],
              },
            })),
          ],
        }),
      );
      const r = await attune(['import', 'fhir', file], env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(
        "Care teams: 2 patients matched; 1 added to a care team from the appointments' practitioners (1 practitioners are no clinician of this practice",
      );
      expect(r.stdout).toContain(
        `; 1 without a care team (no clinician sees them under patientAccess 'care-team': assign them with \`attune practice care-team ${server.practiceId} add PATIENT_EMAIL CLINICIAN_EMAIL\`)`,
      );
      expect(r.stdout).not.toContain('@patients.example');
      expect(await team()).toEqual(['dr.a@example.org:created', 'dr.b@example.org:imported']);
      const last = (await careEvents()).at(-1)!;
      expect(last).toMatchObject({ actor_type: 'cli', actor_id: userInfo().username, target_id: patientId });
      // The import's own phi.write names the same operator as its joins, not a system actor.
      const write = await server.store.db
        .selectFrom('audit_events')
        .selectAll()
        .where('action', '=', AUDIT.PHI_WRITE)
        .orderBy('seq', 'desc')
        .executeTakeFirstOrThrow();
      expect(write).toMatchObject({ actor_type: 'cli', actor_id: userInfo().username });
      expect(JSON.parse(write.details)).toMatchObject({ operation: 'fhir_import', care_joined: 1 });
      const json = await attune(['import', 'fhir', file, '--json'], env);
      expect(JSON.parse(json.stdout)).toMatchObject({
        duplicates: 2,
        careTeams: { patients: 2, joined: 0, unknownPractitioners: 1, withoutCareTeam: 1 },
      });
    },
    SLOW,
  );
});
