import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attune } from './testing.ts';
import { archiveStoredMessage } from '../testing/archived-message.ts';
import { readMasterKey } from '../checkpoints.ts';
import { AUDIT } from '../audit/index.ts';
import { testConfig } from '../config.ts';
import { startServer } from '../index.ts';
import { openStore, type Store } from '../store/index.ts';
import { createTestSchema, dialectsUnderTest } from '../store/testing.ts';

// Writing a signed checkpoint is audited, by the server (system) and by `attune checkpoint` (the
// admin's OS account), and `attune verify` still passes with those events after the signed heads.
describe.each(dialectsUnderTest())('audited checkpoints through the real CLI on %s', (dialect) => {
  let dir: string;
  let env: Record<string, string>;
  let practiceId: string;
  let drop: (() => Promise<void>) | undefined;
  const open = (): Promise<Store> =>
    openStore({
      dataDir: dir,
      ...(env['DATABASE_URL'] ? { databaseUrl: env['DATABASE_URL'], pgSchema: env['DATABASE_SCHEMA'] } : {}),
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'attune-cp-audit-'));
    env = { DATA_DIR: dir, CHECKPOINT_INTERVAL_SECONDS: '0' };
    if (dialect === 'postgres') {
      const schema = await createTestSchema();
      drop = schema.drop;
      env = { ...env, DATABASE_URL: schema.databaseUrl, DATABASE_SCHEMA: schema.schema };
    }
    const server = await startServer(testConfig(dir, env));
    practiceId = server.practiceId;
    await archiveStoredMessage(
      server.store.db,
      readMasterKey(testConfig(dir, env))!,
      practiceId,
      Buffer.from('sealed 1'),
    );
    await server.close(); // signs the chains at shutdown
  });
  afterAll(async () => {
    await drop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('audits the server’s shutdown checkpoints as the system and the CLI’s as the OS user; verify passes', async () => {
    const store = await open();
    try {
      const bySystem = await store.db
        .selectFrom('audit_events')
        .select(['actor_type', 'target_type', 'details'])
        .where('action', '=', AUDIT.CHAIN_CHECKPOINT)
        .where('practice_id', '=', practiceId)
        .execute();
      expect(bySystem.map((e) => [e.actor_type, JSON.parse(e.details).chain]).sort()).toEqual(
        [
          ['system', `archive:${practiceId}`],
          ['system', `audit:${practiceId}`],
        ].sort(),
      );
      await archiveStoredMessage(
        store.db,
        readMasterKey(testConfig(dir, env))!,
        practiceId,
        Buffer.from('sealed 2'),
      );
    } finally {
      await store.close();
    }

    const cp = await attune(['checkpoint', '--quiet'], env);
    expect(cp.code).toBe(0);
    // The archive chain grew; the audit chain only by the events about the last checkpoints.
    expect(cp.stderr).toContain('attune checkpoint: 1 new signed checkpoint(s)');
    const after = await open();
    try {
      const mine = await after.db
        .selectFrom('audit_events')
        .selectAll()
        .where('action', '=', AUDIT.CHAIN_CHECKPOINT)
        .where('actor_type', '=', 'cli')
        .execute();
      expect(mine).toHaveLength(1);
      const cpRow = await after.db
        .selectFrom('chain_checkpoints')
        .select(['id', 'seq', 'head'])
        .where('chain', '=', `archive:${practiceId}`)
        .orderBy('seq', 'desc')
        .executeTakeFirstOrThrow();
      expect(mine[0]).toMatchObject({
        chain: `audit:${practiceId}`,
        actor_id: userInfo().username,
        outcome: 'success',
        target_type: 'chain_checkpoint',
        target_id: cpRow.id,
      });
      expect(JSON.parse(mine[0]!.details)).toMatchObject({
        chain: `archive:${practiceId}`,
        seq: 2,
        head: cpRow.head,
      });
    } finally {
      await after.close();
    }

    const verify = await attune(['verify'], env);
    expect(verify.stdout).not.toContain('BROKEN');
    expect(verify.code).toBe(0);
    // Nothing new but the audit of the last run: nothing to sign.
    const again = await attune(['checkpoint', '--quiet'], env);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('attune checkpoint: 0 new signed checkpoint(s)');
    expect((await attune(['verify'], env)).code).toBe(0);
  });
});
