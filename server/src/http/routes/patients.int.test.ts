// POST /v1/patients creates or updates by email. Several requests creating the same new patient at
// once (an add-in retrying, two clinicians) must all succeed: one creates (201), the others update
// that row (200). On PostgreSQL a plain insert broke the unique (practice_id, email) index: a 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT } from '../../audit/index.ts';
import { dialectsUnderTest } from '../../store/testing.ts';
import { createTestApp, type TestApp } from '../testing.ts';

describe.each(dialectsUnderTest())('POST /v1/patients concurrency on %s', (dialect) => {
  let t: TestApp;
  let tokA: string;

  const post = (body: unknown): Promise<Response> =>
    Promise.resolve(
      t.app.request('/v1/patients', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokA}` },
        body: JSON.stringify(body),
      }),
    );

  beforeAll(async () => {
    t = await createTestApp(dialect);
    tokA = await t.token('dr.a@a.example.org');
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('answers concurrent creations of the same new patient with exactly one 201 and 200s, one row, one audited create', async () => {
    for (let round = 0; round < 5; round++) {
      const email = `same${round}@patients.example`;
      const responses = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          post({ email, name: 'Jane Roe', timeZone: i % 2 ? 'UTC' : 'Europe/Paris' }),
        ),
      );
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses, `round ${round}`).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
      const bodies = (await Promise.all(responses.map((r) => r.json()))) as { id: string }[];
      const rows = await t.store.db
        .selectFrom('patients')
        .select('id')
        .where('practice_id', '=', t.practiceA)
        .where('email', '=', email)
        .execute();
      expect(rows).toHaveLength(1);
      expect(new Set(bodies.map((b) => b.id))).toEqual(new Set([rows[0]!.id]));
      const audits = await t.store.db
        .selectFrom('audit_events')
        .select('details')
        .where('action', '=', AUDIT.PHI_WRITE)
        .where('target_id', '=', rows[0]!.id)
        .execute();
      const ops = audits
        .map((a) => (JSON.parse(String(a.details)) as { operation: string }).operation)
        .sort();
      expect(ops).toEqual(['create', ...Array<string>(7).fill('update')]);
    }
  });
});
