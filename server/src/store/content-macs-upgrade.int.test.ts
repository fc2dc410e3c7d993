// The upgrade to content MACs (migration 0008) binds the rows stored before it on the archive's word
// (store/content-macs.ts rule (a)). A crash after 0008 was recorded and before every row was bound
// used to leave the rest refused for good; the upgrading process now signs a checkpoint of each
// archive chain just before applying 0008, so the next start binds what they cover (rule (b)), and
// nothing an attacker without the master key rewrote since.
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attune } from '../cli/testing.ts';
import { appendArchive, archiveChain } from '../archive/index.ts';
import { generateMasterKey, parseMasterKey, type MasterKey } from '../crypto/index.ts';
import { ensurePracticeKeys } from '../delivery/index.ts';
import { startServer } from '../index.ts';
import { testConfig } from '../config.ts';
import { FORGED_MESSAGE, forgeBodyCt, rewriteArchived } from '../testing/tamper.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureClinician } from './clinicians.ts';
import {
  backfillContentMacs,
  CONTENT_MAC_MIGRATION,
  contentMacUpgradeHooks,
  signUpgradeCheckpoints,
} from './content-macs.ts';
import { ensurePractice } from './practices.ts';
import { newId, nowIso, openStore, type Store, type StoreConfig } from './store.ts';
import { createTestStore, dialectsUnderTest, type TestStore } from './testing.ts';

const BEFORE = '0007-backfill-undelivered';

function newMasterKey(): { raw: string; key: MasterKey } {
  const raw = generateMasterKey();
  const parsed = parseMasterKey(raw);
  if (!parsed.ok) throw new Error(parsed.reason);
  return { raw, key: parsed.masterKey };
}

describe.each(dialectsUnderTest())('resuming the upgrade to content MACs after a crash, on %s', (dialect) => {
  let old: TestStore;
  let config: StoreConfig;
  let mk: { raw: string; key: MasterKey };
  let practiceId: string;
  const ids: string[] = [];

  beforeEach(async () => {
    // A store as the version before content MACs left it: three archived messages without MACs.
    old = await createTestStore(dialect, BEFORE);
    config = {
      dataDir: old.dataDir,
      ...(old.databaseUrl ? { databaseUrl: old.databaseUrl, pgSchema: old.pgSchema } : {}),
    };
    mk = newMasterKey();
    ({ practiceId } = await ensurePractice(old.db, { name: 'Calm Clinic', domains: ['calm.example.org'] }));
    await ensurePracticeKeys(old.db, mk.key, practiceId);
    const at = nowIso();
    const clinician = await ensureClinician(old.db, practiceId, 'dr.lee@calm.example.org', at);
    ids.length = 0;
    for (const text of ['Your results are in.', 'See you on Tuesday.', 'Bring the worksheet.']) {
      const id = newId();
      const bodyCt = await forgeBodyCt(old.db, practiceId, { v: 1, text, attachments: [] });
      await old.db.transaction().execute(async (tx) => {
        await tx
          .insertInto('messages')
          // (No body_mac: the column does not exist before 0008.)
          .values({
            id,
            practice_id: practiceId,
            clinician_id: clinician.id,
            subject_ct: null,
            body_ct: bodyCt,
            decision: 'encrypt',
            reasons: '[]',
            topics: '[]',
            check_in: 0,
            send_at: null,
            expires_at: null,
            revoked_at: null,
            in_reply_to: null,
            created_at: at,
          })
          .execute();
        await appendArchive(tx, { practiceId, kind: 'message', refId: id, ciphertext: bodyCt });
      });
      ids.push(id);
    }
  });
  afterEach(async () => {
    await old?.cleanup();
  });

  /** The upgrade start up to the crash: migrations applied (with the hook, as the server does), no backfill. */
  async function upgradeThenCrash(withHook = true): Promise<void> {
    const s = await openStore(config, {
      beforeMigration: withHook
        ? { [CONTENT_MAC_MIGRATION]: async (db) => void (await signUpgradeCheckpoints(db, mk.key)) }
        : {},
    });
    expect(s.migrated).toContain(CONTENT_MAC_MIGRATION);
    await s.close();
  }
  /** The next start: nothing to migrate, so no upgrade start. */
  async function nextStart<T>(fn: (s: Store) => Promise<T>): Promise<T> {
    const s = await openStore(config);
    try {
      expect(s.migrated).toEqual([]);
      return await fn(s);
    } finally {
      await s.close();
    }
  }

  /** Opens the store without migrating: as a version before 0008 would see it. */
  async function nextStart0007<T>(fn: (s: Store) => Promise<T>): Promise<T> {
    const s = await openStore(config, { migrate: false });
    try {
      return await fn(s);
    } finally {
      await s.close();
    }
  }

  it('binds at the next start every row the upgrade found, from the checkpoints it signed before 0008', async () => {
    await upgradeThenCrash();
    await nextStart(async (s) => {
      const cps = await s.db.selectFrom('chain_checkpoints').selectAll().execute();
      expect(cps).toEqual([expect.objectContaining({ chain: archiveChain(practiceId), seq: 3 }) as unknown]);
      expect(await backfillContentMacs(s.db, mk.key, { upgrade: false })).toEqual({ bound: 3, refused: 0 });
    });
  });

  it('without those checkpoints (migrated by something without the master key) leaves the rows refused', async () => {
    await upgradeThenCrash(false);
    await nextStart(async (s) => {
      expect(await backfillContentMacs(s.db, mk.key, { upgrade: false })).toEqual({ bound: 0, refused: 3 });
    });
  });

  it('binds nothing of a chain rewritten after the upgrade, nor after the upgrade checkpoints were deleted', async () => {
    await upgradeThenCrash();
    await nextStart(async (s) => {
      // The attack between the crash and the next start: a row's content, its entry and the chain's
      // hashes rewritten to match (no master key needed for any of it).
      const forged = await forgeBodyCt(s.db, practiceId, FORGED_MESSAGE);
      await s.db.updateTable('messages').set({ body_ct: forged }).where('id', '=', ids[1]!).execute();
      await rewriteArchived(s.db, 'message', ids[1]!, forged);
      expect(await backfillContentMacs(s.db, mk.key, { upgrade: false })).toEqual({ bound: 0, refused: 3 });
      // Deleting the checkpoint that contradicts it: then nothing covers the rows.
      await s.db.deleteFrom('chain_checkpoints').execute();
      expect(await backfillContentMacs(s.db, mk.key, { upgrade: false })).toEqual({ bound: 0, refused: 3 });
    });
  });

  it('does not sign at the upgrade a chain whose archive entry differs from its row', async () => {
    const other = await forgeBodyCt(old.db, practiceId, FORGED_MESSAGE);
    await old.db.updateTable('messages').set({ body_ct: other }).where('id', '=', ids[2]!).execute();
    let refused: string[] = [];
    const s = await openStore(config, {
      beforeMigration: {
        [CONTENT_MAC_MIGRATION]: async (db) => {
          refused = (await signUpgradeCheckpoints(db, mk.key)).refused.map((b) => b.reason);
        },
      },
    });
    await s.close();
    expect(refused).toEqual(['content_mismatch']);
    await nextStart(async (n) => {
      expect(await n.db.selectFrom('chain_checkpoints').selectAll().execute()).toEqual([]);
    });
  });

  it('the server signs them on its upgrade start', async () => {
    // The server's own master key: the development one in DATA_DIR, the same that sealed the keys.
    writeFileSync(join(old.dataDir, 'master.key'), `${mk.raw}\n`, { mode: 0o600 });
    const server = await startServer(
      testConfig(old.dataDir, {
        CHECKPOINT_INTERVAL_SECONDS: '0',
        PRACTICE_DOMAINS: 'calm.example.org',
        ...(old.databaseUrl ? { DATABASE_URL: old.databaseUrl, DATABASE_SCHEMA: old.pgSchema! } : {}),
      }),
    );
    try {
      expect(server.store.migrated).toContain(CONTENT_MAC_MIGRATION);
      expect(server.notices.join('\n')).toContain('archive checkpoints for the upgrade to content MACs');
      const cps = await server.store.db
        .selectFrom('chain_checkpoints')
        .select(['chain', 'seq'])
        .where('chain', '=', archiveChain(practiceId))
        .execute();
      expect(cps).toEqual([{ chain: archiveChain(practiceId), seq: 3 }]);
    } finally {
      await server.close();
    }
  });

  it('is not applied by a process without the master key while archived rows exist: nothing changes', async () => {
    await expect(openStore(config, { beforeMigration: contentMacUpgradeHooks(null) })).rejects.toThrow(
      /0008-content-mac failed: .*needs ATTUNE_MASTER_KEY/,
    );
    await nextStart0007(async (s) => {
      const applied = (await sql<{ name: string }>`select name from kysely_migration`.execute(s.db)).rows;
      expect(applied.map((r) => r.name)).not.toContain(CONTENT_MAC_MIGRATION);
    });
    // A process with the key then upgrades, and its checkpoints cover every row.
    await openStore(config, { beforeMigration: contentMacUpgradeHooks(mk.key) }).then((s) => s.close());
    await nextStart(async (s) => {
      expect(await backfillContentMacs(s.db, mk.key, { upgrade: false })).toEqual({ bound: 3, refused: 0 });
    });
  });

  it('attune import run before the server on the old store signs the upgrade checkpoints as the server would', async () => {
    const env = {
      DATA_DIR: old.dataDir,
      ATTUNE_MASTER_KEY: mk.raw,
      PRACTICE_DOMAINS: 'calm.example.org',
      ...(old.databaseUrl ? { DATABASE_URL: old.databaseUrl, DATABASE_SCHEMA: old.pgSchema! } : {}),
    };
    const bundle = join(old.dataDir, 'empty-bundle.json');
    writeFileSync(bundle, JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [] }));
    // Without the key (none in the environment, none in DATA_DIR) it says why and applies nothing.
    const { ATTUNE_MASTER_KEY: _key, ...keyless } = env;
    const refused = await attune(['import', 'fhir', bundle], keyless);
    expect(refused.stderr).toContain('attune import: this store predates content MACs');
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    expect(refused.code).toBe(2);
    await nextStart0007(async (s) => {
      const applied = (await sql<{ name: string }>`select name from kysely_migration`.execute(s.db)).rows;
      expect(applied.map((r) => r.name)).not.toContain(CONTENT_MAC_MIGRATION);
    });
    const r = await attune(['import', 'fhir', bundle], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await nextStart(async (s) => {
      expect(await backfillContentMacs(s.db, mk.key, { upgrade: false })).toEqual({ bound: 3, refused: 0 });
    });
  }, 60_000);
});
