// Test support for the engagement API: a store of the given dialect (SQLite temp folder, or a fresh
// PostgreSQL schema), two practices (for tenant isolation), the real app with the development
// issuer, and an adjustable clock. Not imported by production code.
import { testConfig, type Config } from '../config.ts';
import { generateMasterKey, parseMasterKey } from '../crypto/index.ts';
import { createApp } from '../http/app.ts';
import type { App } from '../http/types.ts';
import { createAuthenticator, loadDevIssuer, type DevIssuer } from '../identity/index.ts';
import { silentLogger } from '../log.ts';
import { ensurePractice, newId, nowIso, type Db, type Dialect } from '../store/index.ts';
import { createTestStore, type TestStore } from '../store/testing.ts';

export interface EngagementFixture {
  store: TestStore;
  db: Db;
  config: Config;
  app: App;
  practiceId: string;
  otherPracticeId: string;
  issuer: DevIssuer;
  /** The app's clock. */
  clock: { now: Date };
  /** A bearer token for `email` (domain calm.example → the practice; other.example → the other one). */
  token(email?: string, admin?: boolean): Promise<string>;
  /**
   * A patient of `practiceId`, in the care of that practice's default clinician (dr@calm.example or
   * dr@other.example) unless `careOf` names other clinicians' emails ([] for nobody's).
   */
  addPatient(
    practiceId: string,
    email: string,
    extra?: { name?: string; timeZone?: string; careOf?: string[] },
  ): Promise<string>;
  /** The clinician id of `email` (signing them in once if they never did). */
  clinicianId(email: string): Promise<string>;
  /** JSON request through app.request with a bearer token. */
  call(method: string, path: string, body?: unknown, token?: string): Promise<Response>;
  cleanup(): Promise<void>;
}

export async function createEngagementFixture(
  dialect: Dialect,
  now = new Date('2026-06-01T12:00:00Z'),
): Promise<EngagementFixture> {
  const store = await createTestStore(dialect);
  const masterKey = generateMasterKey();
  const config = testConfig(store.dataDir, {
    ATTUNE_MASTER_KEY: masterKey,
    PRACTICE_NAME: 'Calm Waters Counseling',
    PRACTICE_DOMAINS: 'calm.example',
    PUBLIC_URL: 'https://attune.calm.example',
    ADMIN_EMAILS: 'admin@calm.example,admin@other.example',
  });
  const { practiceId } = await ensurePractice(store.db, config.practice);
  const other = await ensurePractice(store.db, { name: 'Other Practice', domains: ['other.example'] });
  const issuer = await loadDevIssuer({
    dataDir: store.dataDir,
    issuer: config.identity.dev.issuer,
    audience: config.identity.dev.audience,
    ttlSeconds: 3600,
  });
  const authenticator = createAuthenticator({ config, store, devIssuer: issuer, logger: silentLogger });
  const clock = { now };
  const mk = parseMasterKey(masterKey);
  const app = createApp({
    config,
    store,
    logger: silentLogger,
    authenticator,
    now: () => clock.now,
    services: { masterKey: mk.ok ? mk.masterKey : undefined, practiceId },
  });
  const defaultToken = await issuer.sign({ email: 'dr@calm.example' });
  // Clinicians exist from their first sign-in (identity/authenticator.ts): sign in through the app.
  const clinicianId = async (email: string): Promise<string> => {
    const find = () =>
      store.db.selectFrom('clinicians').select('id').where('email', '=', email).executeTakeFirst();
    if (!(await find())) {
      const admin = email.startsWith('admin@');
      await app.request('/v1/policy', {
        headers: { authorization: `Bearer ${await issuer.sign({ email, admin })}` },
      });
    }
    const row = await find();
    if (!row) throw new Error(`fixture: ${email} could not sign in`);
    return row.id;
  };
  return {
    store,
    db: store.db,
    config,
    app,
    practiceId,
    otherPracticeId: other.practiceId,
    issuer,
    clock,
    token: (email = 'dr@calm.example', admin = false) => issuer.sign({ email, admin }),
    async addPatient(pid, email, extra = {}) {
      const id = newId();
      const t = nowIso();
      await store.db
        .insertInto('patients')
        .values({
          id,
          practice_id: pid,
          email,
          name: extra.name ?? null,
          time_zone: extra.timeZone ?? null,
          public_key: null,
          fingerprint: null,
          created_at: t,
          updated_at: t,
        })
        .execute();
      const careOf = extra.careOf ?? [pid === practiceId ? 'dr@calm.example' : 'dr@other.example'];
      for (const email of careOf) {
        await store.db
          .insertInto('care_relations')
          .values({
            practice_id: pid,
            patient_id: id,
            clinician_id: await clinicianId(email),
            source: 'created',
            created_at: t,
            created_by: null,
          })
          .execute();
      }
      return id;
    },
    clinicianId,
    async call(method, path, body, token = defaultToken) {
      return app.request(path, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
    },
    cleanup: () => store.cleanup(),
  };
}
