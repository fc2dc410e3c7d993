import { testConfig } from '../config.ts';
import { generateMasterKey } from '../crypto/index.ts';
import { silentLogger } from '../log.ts';
import { createTestStore, type TestStore } from '../store/testing.ts';
import { newId, nowIso, type Dialect } from '../store/index.ts';
import { createDelivery, type Delivery } from './index.ts';
import type { OutboxOptions } from './outbox.ts';
import type { MailTransport } from './transport.ts';

// Test support: a store (SQLite or PostgreSQL) with one practice and one clinician, and the
// delivery module wired to it. Not imported by production code.

export interface DeliveryFixture {
  store: TestStore;
  delivery: Delivery;
  practiceId: string;
  clinicianId: string;
  /** The fixture's clock runs `offsetMs` ahead of real time: raise it to jump forward. */
  clock: { offsetMs: number };
  addPatient(
    email: string,
    extra?: { publicKey?: string; fingerprint?: string; timeZone?: string },
  ): Promise<string>;
  addPractice(name: string, domain: string): Promise<{ practiceId: string; clinicianId: string }>;
  cleanup(): Promise<void>;
}

export async function createDeliveryFixture(
  dialect: Dialect,
  opts: { env?: Record<string, string>; transport?: MailTransport; worker?: OutboxOptions } = {},
): Promise<DeliveryFixture> {
  const store = await createTestStore(dialect);
  const config = testConfig(store.dataDir, {
    ATTUNE_MASTER_KEY: generateMasterKey(),
    PRACTICE_NAME: 'Calm Waters Counseling',
    PRACTICE_DOMAINS: 'calm.example',
    PUBLIC_URL: 'https://attune.calm.example',
    ...opts.env,
  });
  const clock = { offsetMs: 0 };
  const now = () => new Date(Date.now() + clock.offsetMs);
  const delivery = createDelivery({
    config,
    store,
    logger: silentLogger,
    now,
    ...(opts.transport ? { transport: opts.transport } : {}),
    worker: { pollMs: 50, backoffBaseMs: 10, backoffMaxMs: 50, ...opts.worker },
  });

  async function addPractice(name: string, domain: string) {
    const practiceId = newId();
    const clinicianId = newId();
    const t = nowIso();
    await store.db
      .insertInto('practices')
      .values({
        id: practiceId,
        name,
        reply_domain: null,
        entra_tenant_id: null,
        created_at: t,
        updated_at: t,
      })
      .execute();
    await store.db
      .insertInto('practice_domains')
      .values({ domain, practice_id: practiceId, created_at: t })
      .execute();
    await store.db
      .insertInto('clinicians')
      .values({
        id: clinicianId,
        practice_id: practiceId,
        email: `dr@${domain}`,
        name: 'Dr',
        role: 'clinician',
        external_subject: null,
        disabled: 0,
        created_at: t,
        updated_at: t,
        last_login_at: null,
      })
      .execute();
    return { practiceId, clinicianId };
  }
  const { practiceId, clinicianId } = await addPractice('Calm Waters Counseling', 'calm.example');

  return {
    store,
    delivery,
    practiceId,
    clinicianId,
    clock,
    addPractice,
    async addPatient(email, extra = {}) {
      const id = newId();
      const t = nowIso();
      await store.db
        .insertInto('patients')
        .values({
          id,
          practice_id: practiceId,
          email,
          name: null,
          time_zone: extra.timeZone ?? null,
          public_key: extra.publicKey ?? null,
          fingerprint: extra.fingerprint ?? null,
          created_at: t,
          updated_at: t,
        })
        .execute();
      return id;
    },
    async cleanup() {
      await delivery.stop();
      await store.cleanup();
    },
  };
}
