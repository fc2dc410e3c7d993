import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attune } from './testing.ts';
import { testConfig } from '../config.ts';
import { startServer, type RunningServer } from '../index.ts';
import { createTestSchema, dialectsUnderTest } from '../store/testing.ts';

// Each case runs the CLI (a Node start with tsx, ~1-2 s each), demo seeding a few patients.
const SLOW = 180_000;

// The one-off commands (demo, import fhir, import gmail) write into one practice of a store that a
// server, and `attune practice`, manage. They must write into the right practice and leave every
// practice's settings as they are, whatever environment they are run with.
describe.each(dialectsUnderTest())(
  'attune demo and import: which practice, unchanged (real CLI) on %s',
  (dialect) => {
    let dir: string;
    let env: Record<string, string>;
    let server: RunningServer;
    let drop: (() => Promise<void>) | undefined;
    let configured: string;
    let other: string;

    const practiceRow = (id: string) =>
      server.store.db
        .selectFrom('practices')
        .select(['name', 'reply_domain'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
    const eventCount = async (practiceId: string) =>
      Number(
        (
          await server.store.db
            .selectFrom('engagement_events')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('practice_id', '=', practiceId)
            .executeTakeFirstOrThrow()
        ).n,
      );

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'attune-oneoff-'));
      env = { DATA_DIR: dir, CHECKPOINT_INTERVAL_SECONDS: '0', PRACTICE_DOMAINS: 'calm.example' };
      if (dialect === 'postgres') {
        const schema = await createTestSchema();
        drop = schema.drop;
        env = { ...env, DATABASE_URL: schema.databaseUrl, DATABASE_SCHEMA: schema.schema };
      }
      // The server's configured practice takes its name and reply domain from the server's environment.
      server = await startServer(
        testConfig(dir, {
          ...env,
          PRACTICE_NAME: 'Calm Waters Counseling',
          PRACTICE_REPLY_DOMAIN: 'reply.calm.example',
        }),
      );
      configured = server.practiceId;
      // Since then, an admin added another practice.
      const add = await attune(
        ['practice', 'add', '--name', 'Other Clinic', '--domain', 'other.example', '--json'],
        env,
      );
      expect(add.stderr).toBe('');
      other = (JSON.parse(add.stdout) as { practice: { id: string } }).practice.id;
    }, SLOW);
    afterAll(async () => {
      await server?.close();
      await drop?.();
      rmSync(dir, { recursive: true, force: true });
    });

    it(
      'demo fills the configured practice without rewriting its name or reply domain, or the practice --practice names',
      async () => {
        // Run with an environment that says less than the server's (a cron job's, say): no PRACTICE_NAME
        // (the default name) and no PRACTICE_REPLY_DOMAIN.
        const dev = { ...env, ATTUNE_ENV: 'development' };
        const r = await attune(['demo', '--patients', '3', '--seed', '7'], dev);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(r.stdout).toContain('Demo practice "Calm Waters Counseling"');
        expect(r.stdout).toContain('demo.clinician@calm.example');
        expect(await practiceRow(configured)).toEqual({
          name: 'Calm Waters Counseling',
          reply_domain: 'reply.calm.example',
        });
        expect(await eventCount(configured)).toBeGreaterThan(0);
        expect(await eventCount(other)).toBe(0);

        const o = await attune(
          ['demo', '--patients', '2', '--seed', '8', '--practice', 'other.example'],
          dev,
        );
        expect(o.stderr).toBe('');
        expect(o.code).toBe(0);
        expect(o.stdout).toContain('Demo practice "Other Clinic"');
        expect(o.stdout).toContain('demo.clinician@other.example');
        expect(await eventCount(other)).toBeGreaterThan(0);
        expect(await practiceRow(other)).toEqual({ name: 'Other Clinic', reply_domain: null });

        const unknown = await attune(['demo', '--practice', 'nowhere.example'], dev);
        expect(unknown.code).toBe(1);
        expect(unknown.stderr).toContain('no practice nowhere.example');
        expect((await attune(['demo', '--practice'], dev)).code).toBe(2);
      },
      SLOW,
    );

    it(
      'import fhir records into the practice it names (or the configured one) and changes no practice',
      async () => {
        const patient = await server.store.db
          .selectFrom('patients')
          .select('email')
          .where('practice_id', '=', other)
          .orderBy('email')
          .executeTakeFirstOrThrow();
        const file = join(dir, 'bundle.json');
        writeFileSync(
          file,
          JSON.stringify({
            resourceType: 'Bundle',
            type: 'collection',
            entry: [
              {
                resource: {
                  resourceType: 'Patient',
                  id: 'ehr-1',
                  telecom: [{ system: 'email', value: patient.email }],
                },
              },
              {
                resource: {
                  resourceType: 'Appointment',
                  id: 'oneoff-1',
                  status: 'noshow',
                  start: new Date(Date.now() - 3 * 86_400_000).toISOString(),
                  participant: [{ actor: { reference: 'Patient/ehr-1' } }],
                },
              },
            ],
          }),
        );
        // Without --practice: the configured practice, where this patient is unknown.
        const mine = await attune(['import', 'fhir', file, '--json'], env);
        expect(mine.stderr).toBe('');
        expect(JSON.parse(mine.stdout)).toMatchObject({ accepted: 0, unmatched: [{ entry: 1 }] });

        const before = await eventCount(other);
        const theirs = await attune(['import', 'fhir', '--practice', 'other.example', file, '--json'], env);
        expect(theirs.stderr).toBe('');
        expect(theirs.code).toBe(0);
        expect(JSON.parse(theirs.stdout)).toMatchObject({ accepted: 1, unmatched: [] });
        expect(await eventCount(other)).toBe(before + 1);
        expect(await practiceRow(configured)).toEqual({
          name: 'Calm Waters Counseling',
          reply_domain: 'reply.calm.example',
        });

        const unknown = await attune(['import', 'fhir', file, '--practice', 'nowhere.example'], env);
        expect(unknown.code).toBe(1);
        expect(unknown.stderr).toContain('no practice nowhere.example');
        expect((await attune(['import', 'fhir', file, '--practice'], env)).code).toBe(2);
      },
      SLOW,
    );

    it(
      "import gmail records into the practice that owns the mailbox's domain, and refuses a domain no practice owns",
      async () => {
        const key = join(dir, 'sa.json');
        writeFileSync(
          key,
          JSON.stringify({ client_email: 'sync@project.example', private_key: 'not-a-key' }),
        );
        const r = await attune(['import', 'gmail', '--mailbox', 'dr@nowhere.example', '--key', key], env);
        expect(r.code).toBe(1);
        // Refused before any call to Google (the configured practice was used for every mailbox before).
        expect(r.stderr).toContain('no practice nowhere.example');
        expect(r.stderr).not.toContain('Gmail sync failed');

        // A practice that does not own the mailbox's domain: refused the same way, no account made.
        const clinicians = () =>
          server.store.db.selectFrom('clinicians').select('email').where('practice_id', '=', other).execute();
        const before = await clinicians();
        const wrong = await attune(
          ['import', 'gmail', '--mailbox', 'dr@calm.example', '--practice', 'other.example', '--key', key],
          env,
        );
        expect(wrong.code).toBe(1);
        expect(wrong.stderr).toContain(`dr@calm.example is not in one of the domains of practice ${other}`);
        expect(wrong.stderr).not.toContain('Gmail sync failed');
        expect(await clinicians()).toEqual(before);
      },
      SLOW,
    );
  },
);
