import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readKey } from 'openpgp';
import { afterAll, describe, expect, it } from 'vitest';
import { testConfig } from './config.ts';
import { DEV_KEY_FILE } from './identity/index.ts';
import { MASTER_KEY_FILE, startServer } from './index.ts';
import { createTestSchema, TEST_DATABASE_URL } from './store/testing.ts';
import { archiveStoredMessage } from './testing/archived-message.ts';
import { readMasterKey } from './checkpoints.ts';
import { openStore } from './store/index.ts';

describe('startServer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attune-start-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('boots on a free port with a fresh data folder: keys created private, practice and its keys bootstrapped', async () => {
    const s = await startServer(testConfig(dir, { MAIL_FROM: 'secure@calm.example.org' }));
    try {
      expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${s.url}/healthz`);
      expect(await health.json()).toEqual({ status: 'ok', database: 'sqlite' });
      expect(statSync(join(dir, MASTER_KEY_FILE)).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, DEV_KEY_FILE)).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'mail')).isDirectory()).toBe(true);
      expect(s.notices.join('\n')).toMatch(/Created a local master key[\s\S]*signing key[\s\S]*archive key/);
      const keys = await s.store.db
        .selectFrom('practice_keys')
        .selectAll()
        .where('practice_id', '=', s.practiceId)
        .execute();
      expect(keys.map((k) => k.purpose).sort()).toEqual(['archive', 'signing']);
      // The signing key names the practice's sending address (what a patient's PGP client shows).
      const signing = keys.find((k) => k.purpose === 'signing')!;
      expect((await readKey({ armoredKey: signing.public_key })).getUserIDs()).toEqual([
        'Demo Practice <secure@calm.example.org>',
      ]);
      for (const k of keys) {
        expect(k.sealed_private_key).not.toContain('PRIVATE KEY');
        expect(s.notices).toContain(`Generated the practice's ${k.purpose} key ${k.fingerprint}.`);
      }
    } finally {
      await s.close();
    }
  });

  it('signs checkpoints of its chains on its timer, and a last one when it closes', async () => {
    const own = mkdtempSync(join(tmpdir(), 'attune-cp-timer-'));
    const s = await startServer(testConfig(own, { CHECKPOINT_INTERVAL_SECONDS: '1' }));
    const chain = `audit:${s.practiceId}`; // key generation was audited at start
    const count = async () =>
      (await s.store.db.selectFrom('chain_checkpoints').select('seq').where('chain', '=', chain).execute())
        .length;
    try {
      const deadline = Date.now() + 15_000;
      while ((await count()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await count()).toBe(1);
      await archiveStoredMessage(s.store.db, readMasterKey(s.config)!, s.practiceId, Buffer.from('sealed'));
    } finally {
      await s.close();
    }
    // The archive entry appended just before closing was signed at shutdown.
    const again = await openStore({ dataDir: own });
    try {
      const rows = await again.db.selectFrom('chain_checkpoints').select(['chain', 'seq']).execute();
      expect(rows).toContainEqual({ chain: `archive:${s.practiceId}`, seq: 1 });
    } finally {
      await again.close();
      rmSync(own, { recursive: true, force: true });
    }
  });

  it('restarts on the same data folder without new keys or practices', async () => {
    const s = await startServer(testConfig(dir));
    try {
      expect(s.notices.filter((n) => /^(Created|Generated)/.test(n))).toEqual([]);
      const practices = await s.store.db.selectFrom('practices').select('id').execute();
      expect(practices).toHaveLength(1);
      expect(await s.store.db.selectFrom('practice_keys').select('id').execute()).toHaveLength(2);
    } finally {
      await s.close();
    }
  });
});

describe.skipIf(!TEST_DATABASE_URL)('startServer on PostgreSQL (TEST_DATABASE_URL)', () => {
  it('boots on its own schema, bootstraps the practice there and serves requests', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'attune-start-pg-'));
    const pg = await createTestSchema();
    try {
      const s = await startServer(
        testConfig(dir, { DATABASE_URL: pg.databaseUrl, DATABASE_SCHEMA: pg.schema }),
      );
      try {
        expect(await (await fetch(`${s.url}/healthz`)).json()).toEqual({
          status: 'ok',
          database: 'postgres',
        });
        const token = await fetch(`${s.url}/v1/dev/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"email":"dr@example.org"}',
        });
        const { token: tok } = (await token.json()) as { token: string };
        expect(
          (await fetch(`${s.url}/v1/policy`, { headers: { authorization: `Bearer ${tok}` } })).status,
        ).toBe(200);
      } finally {
        await s.close();
      }
    } finally {
      await pg.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
