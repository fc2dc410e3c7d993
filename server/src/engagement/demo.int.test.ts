import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePractice } from '../store/index.ts';
import { createTestStore, dialectsUnderTest, type TestStore } from '../store/testing.ts';
import { demoPatientId, seedDemo } from './demo.ts';
import { practiceCaseload } from './service.ts';

describe.each(dialectsUnderTest())('attune demo data on %s', (dialect) => {
  let store: TestStore;
  let practiceId: string;
  const now = new Date('2026-09-01T15:00:00Z');

  beforeAll(async () => {
    store = await createTestStore(dialect);
    practiceId = (await ensurePractice(store.db, { name: 'Demo', domains: ['example.org'] })).practiceId;
  });
  afterAll(async () => {
    await store?.cleanup();
  });

  it('fills a practice with simulated patients whose caseload puts a crisis first', async () => {
    const r = await seedDemo(store.db, practiceId, {
      now,
      patients: 60,
      seed: 4,
      clinicianEmail: 'demo.clinician@example.org',
    });
    expect(r).toMatchObject({ created: true, patients: 60 });
    expect(r.events).toBeGreaterThan(60 * 20);
    const caseload = await practiceCaseload(store.db, practiceId, now, 1, 10);
    expect(caseload.total).toBe(60);
    // The demo clinician `attune demo` names has every demo patient in their care (the default
    // policy shows a clinician only those), before they ever sign in.
    const demoClinician = await store.db
      .selectFrom('clinicians')
      .select('id')
      .where('email', '=', 'demo.clinician@example.org')
      .executeTakeFirstOrThrow();
    const theirs = await practiceCaseload(store.db, practiceId, now, 1, 10, undefined, demoClinician.id);
    expect(theirs.total).toBe(60);
    expect(r.crisisPatients).toBeGreaterThan(0);
    expect(caseload.items[0]?.crisis).toBe(true);
    expect(caseload.items.some((i) => i.score > 0)).toBe(true);
  });

  it('gives demo data already in the store to the demo clinician on a later run (no --reset), idempotently', async () => {
    const email = 'later.clinician@example.org';
    const again = await seedDemo(store.db, practiceId, { now, patients: 60, seed: 4, clinicianEmail: email });
    expect(again.created).toBe(false);
    const id = (
      await store.db
        .selectFrom('clinicians')
        .select('id')
        .where('email', '=', email)
        .executeTakeFirstOrThrow()
    ).id;
    const mine = await practiceCaseload(store.db, practiceId, now, 1, 10, undefined, id);
    expect(mine.total).toBe(60);
    expect(mine.items[0]?.crisis).toBe(true);
    await seedDemo(store.db, practiceId, { now, patients: 60, seed: 4, clinicianEmail: email });
    const relations = await store.db
      .selectFrom('care_relations')
      .select(['source'])
      .where('clinician_id', '=', id)
      .execute();
    expect(relations).toHaveLength(60);
    expect(new Set(relations.map((r) => r.source))).toEqual(new Set(['imported']));
    // A clinician of the practice who is not one of them sees none.
    const other = await practiceCaseload(store.db, practiceId, now, 1, 10, undefined, 'someone-else');
    expect(other.total).toBe(0);
  });

  it('adds nothing on a second run and regenerates on --reset without touching other events', async () => {
    const before = await store.db
      .selectFrom('engagement_events')
      .select('id')
      .where('practice_id', '=', practiceId)
      .execute();
    const again = await seedDemo(store.db, practiceId, { now, patients: 60, seed: 4 });
    expect(again.created).toBe(false);
    expect(again.events).toBe(before.length);
    const reset = await seedDemo(store.db, practiceId, {
      now: new Date(now.getTime() + 86_400_000),
      patients: 60,
      seed: 4,
      reset: true,
    });
    expect(reset).toMatchObject({ created: true, removed: before.length });
    const patients = await store.db
      .selectFrom('patients')
      .select('id')
      .where('practice_id', '=', practiceId)
      .execute();
    expect(patients).toHaveLength(60);
  });

  it('regenerates under another seed on --reset, reusing each simulated slot (no duplicate id)', async () => {
    const other = await seedDemo(store.db, practiceId, { now, patients: 60, seed: 5, reset: true });
    expect(other.created).toBe(true);
    const patients = await store.db
      .selectFrom('patients')
      .select(['id', 'email'])
      .where('practice_id', '=', practiceId)
      .execute();
    expect(patients).toHaveLength(60);
    // The slots now carry seed 5's names.
    const slot = patients.find((p) => p.id === demoPatientId(practiceId, 'demo-p1'));
    expect(slot?.email).toMatch(/\.1@patients\.example$/);
    const again = await seedDemo(store.db, practiceId, { now, patients: 60, seed: 4, reset: true });
    expect(again.created).toBe(true);
    expect(patients.map((p) => p.email)).not.toEqual(
      (
        await store.db
          .selectFrom('patients')
          .select(['id', 'email'])
          .where('practice_id', '=', practiceId)
          .execute()
      ).map((p) => p.email),
    );
  });

  it('derives stable, UUID-shaped patient ids', () => {
    const id = demoPatientId('p', 'demo-1');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(demoPatientId('p', 'demo-1')).toBe(id);
    expect(demoPatientId('q', 'demo-1')).not.toBe(id);
  });
});
