import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../config.ts';
import { startServer, type RunningServer } from '../index.ts';
import { appendArchive } from '../archive/index.ts';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/attune.mjs');

async function attune(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('attune verify and attune token (the real CLI)', () => {
  let dir: string;
  let server: RunningServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'attune-cli-'));
    server = await startServer(testConfig(dir));
    for (let i = 0; i < 4; i++) {
      await appendArchive(server.store.db, {
        practiceId: server.practiceId,
        kind: 'message',
        refId: `m-${i}`,
        ciphertext: Buffer.from(`sealed ${i}`),
      });
    }
    await server.close();
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 0 and reports intact chains on an untouched store', async () => {
    const r = await attune(['verify'], { DATA_DIR: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^ok {5}audit:${server.practiceId}: \\d+ entries intact`, 'm'));
    // The server signed a checkpoint of each chain when it closed; the local master key vouches for the key.
    expect(r.stdout).toContain('checkpoint keys: vouched for by the master key');
    expect(r.stdout).toMatch(
      new RegExp(
        `^ok {5}archive:${server.practiceId}: 4 entries intact, head [0-9a-f]{64}  merkle root [0-9a-f]{64}  signed to seq 4 at \\S+Z$`,
        'm',
      ),
    );
  });

  it('exits 1 and names the tampered archive row', async () => {
    const { openStore } = await import('../store/index.ts');
    const store = await openStore({ dataDir: dir });
    const row = await store.db
      .selectFrom('archive_entries')
      .select('id')
      .where('seq', '=', 2)
      .executeTakeFirstOrThrow();
    await store.db
      .updateTable('archive_entries')
      .set({ ref_id: 'm-other' })
      .where('id', '=', row.id)
      .execute();
    await store.close();
    const r = await attune(['verify'], { DATA_DIR: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `FIRST BREAK: chain archive:${server.practiceId} at seq 2 (row id ${row.id}): hash_mismatch`,
    );
  });

  it('prints a development token that the server accepts, and refuses in production', async () => {
    const ok = await attune(['token', '--dev', '--email', 'dr@example.org'], {
      DATA_DIR: dir,
      ATTUNE_ENV: 'development',
    });
    expect(ok.code).toBe(0);
    const token = ok.stdout.trim();
    expect(token.split('.')).toHaveLength(3);
    const again = await startServer(testConfig(dir));
    try {
      const res = await fetch(`${again.url}/v1/policy`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
    } finally {
      await again.close();
    }
    const refused = await attune(['token', '--dev', '--email', 'dr@example.org'], {
      DATA_DIR: dir,
      ATTUNE_ENV: 'production',
      PUBLIC_URL: 'https://attune.example.org',
      ATTUNE_MASTER_KEY: 'k',
      PRACTICE_DOMAINS: 'example.org',
      SMTP_URL: 'smtp://relay.example.org',
      GOOGLE_CLIENT_IDS: 'x.apps.googleusercontent.com',
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('dev_tokens_disabled');
    expect(refused.stdout).toBe('');
  });
});
