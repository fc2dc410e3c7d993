import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT } from '../audit/index.ts';
import { testConfig } from '../config.ts';
import { generateMasterKey } from '../crypto/index.ts';
import { startServer, type RunningServer } from '../index.ts';
import { createTestSchema, dialectsUnderTest } from '../store/testing.ts';
import { attune } from './testing.ts';

// Each case runs the CLI (a Node start with tsx, ~1-2 s each).
const SLOW = 120_000;

// `attune archive content-macs`: the real CLI against the store of a running server, after a stored
// message lost its MAC (as a row written by an old process in a rolling upgrade has none).
describe.each(dialectsUnderTest())('attune archive content-macs (the real CLI) on %s', (dialect) => {
  let dir: string;
  let env: Record<string, string>;
  let server: RunningServer;
  let drop: (() => Promise<void>) | undefined;
  let lost: string;
  let fine: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'attune-content-macs-'));
    env = { DATA_DIR: dir, CHECKPOINT_INTERVAL_SECONDS: '0', PRACTICE_DOMAINS: 'calm.example.org' };
    if (dialect === 'postgres') {
      const schema = await createTestSchema();
      drop = schema.drop;
      env = { ...env, DATABASE_URL: schema.databaseUrl, DATABASE_SCHEMA: schema.schema };
    }
    server = await startServer(testConfig(dir, env));
    const t = await fetch(`${server.url}/v1/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'dr.lee@calm.example.org' }),
    });
    const auth = { authorization: `Bearer ${((await t.json()) as { token: string }).token}` };
    const send = async (text: string) => {
      const res = await fetch(`${server.url}/v1/messages`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ to: ['wren.ashdown@patients.example.net'], text, delivery: 'client' }),
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { id: string }).id;
    };
    lost = await send('Your results are in: all clear.');
    fine = await send('See you on Tuesday.');
    await server.store.db.updateTable('messages').set({ body_mac: null }).where('id', '=', lost).execute();
  }, SLOW);

  afterAll(async () => {
    await server?.close();
    await drop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'refuses bad usage with exit 2 and the usage, before touching the store',
    async () => {
      for (const args of [
        ['calm.example.org', 'frobnicate'],
        ['calm.example.org', 'bind'],
        ['calm.example.org', 'list', '--unsafe-bind-content-not-in-archive'],
        ['calm.example.org', 'list', '--entry-not-checkpointed'],
        ['calm.example.org', 'bind', 'not-an-id'],
      ]) {
        const r = await attune(['archive', 'content-macs', ...args], env);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr).toContain('usage:');
      }
      const help = await attune(['archive', 'content-macs', '--help'], env);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('--unsafe-bind-content-not-in-archive');
      expect(help.stdout).toContain('--entry-not-checkpointed');
    },
    SLOW,
  );

  it(
    'needs the master key that opens the practice keys (exit 2)',
    async () => {
      const r = await attune(['archive', 'content-macs', 'calm.example.org', 'list'], {
        ...env,
        ATTUNE_MASTER_KEY: generateMasterKey(),
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('does not open');
    },
    SLOW,
  );

  it(
    'lists the row without its MAC by reference, binds it (audited as the OS user), and refuses what is vouched for',
    async () => {
      const list = await attune(['archive', 'content-macs', 'calm.example.org', 'list', '--json'], env);
      expect(list.code).toBe(0);
      const listed = JSON.parse(list.stdout) as {
        checkpointedTo: unknown;
        rows: Array<{ id: string; mac: string; archive: string; checkpoint: unknown }>;
      };
      // No checkpoint has been signed (CHECKPOINT_INTERVAL_SECONDS=0): its entry proves nothing.
      expect(listed.checkpointedTo).toBeNull();
      expect(listed.rows).toEqual([
        expect.objectContaining({
          id: lost,
          mac: 'missing',
          archive: 'matches',
          checkpoint: null,
        }) as unknown,
      ]);
      expect(list.stdout).not.toMatch(/results|wren/);
      const text = await attune(['archive', 'content-macs', 'calm.example.org', 'list'], env);
      expect(text.stdout).toContain('No signed checkpoint covers the archive');
      expect(text.stdout).toMatch(new RegExp(`${lost} .*content matches, NOT checkpointed`));

      const refused = await attune(
        ['archive', 'content-macs', 'calm.example.org', 'bind', lost, '--json'],
        env,
      );
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('no signed checkpoint covers that entry');
      expect(refused.stderr).toContain('--entry-not-checkpointed');
      expect(JSON.parse(refused.stdout)).toMatchObject({
        ok: false,
        reason: 'entry_not_checkpointed',
        row: { id: lost, checkpoint: null },
      });
      const bind = await attune(
        ['archive', 'content-macs', 'calm.example.org', 'bind', lost, '--entry-not-checkpointed'],
        env,
      );
      expect(bind.code).toBe(0);
      expect(bind.stdout).toContain('entry NOT covered by a signed checkpoint');
      expect(bind.stdout).toContain('WARNING: no signed checkpoint covers its archive entry');
      expect(bind.stdout).toContain(`Bound the content MAC of message ${lost}`);
      expect(bind.stdout).toMatch(/ciphertext sha256 [0-9a-f]{64}/);
      const events = await server.store.db
        .selectFrom('audit_events')
        .selectAll()
        .where('action', '=', AUDIT.CONTENT_DECISION)
        .execute();
      expect(events).toEqual([
        expect.objectContaining({ outcome: 'failure', target_id: lost }) as unknown,
        expect.objectContaining({
          outcome: 'success',
          actor_type: 'cli',
          actor_id: userInfo().username,
          target_id: lost,
        }) as unknown,
      ]);

      const again = await attune(['archive', 'content-macs', 'calm.example.org', 'quarantine', fine], env);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('nothing to quarantine');
      const none = await attune(['archive', 'content-macs', 'calm.example.org', 'list'], env);
      expect(none.stdout).toContain('is vouched for');
    },
    SLOW,
  );
});
