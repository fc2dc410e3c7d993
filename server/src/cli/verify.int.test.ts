import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attune } from './testing.ts';
import { testConfig } from '../config.ts';
import { startServer, type RunningServer } from '../index.ts';
import { archiveStoredMessage } from '../testing/archived-message.ts';
import { readMasterKey } from '../checkpoints.ts';
import { GpgHome } from '../crypto/gpg-cli.ts';
import { openStore } from '../store/index.ts';
import { createTestSchema, dialectsUnderTest } from '../store/testing.ts';
import { writeFileSync } from 'node:fs';
import { SendMessageResponseSchema } from '@attune/shared/api';
import { loadDevIssuer } from '../identity/index.ts';
import { FORGED_MESSAGE, forgeBodyCt, rewriteArchived } from '../testing/tamper.ts';

/** Runs a server in `dir`, archives `entries` messages, and stops it (which signs a checkpoint). */
async function serverWithArchive(
  dir: string,
  entries: number,
  env: Record<string, string> = {},
): Promise<RunningServer> {
  const server = await startServer(testConfig(dir, env));
  for (let i = 0; i < entries; i++) {
    await archiveStoredMessage(
      server.store.db,
      readMasterKey(testConfig(dir, env))!,
      server.practiceId,
      Buffer.from(`sealed ${i}`),
    );
  }
  await server.close();
  return server;
}

describe('attune verify and attune token (the real CLI)', () => {
  let dir: string;
  let server: RunningServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'attune-cli-'));
    server = await serverWithArchive(dir, 4);
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

  it('refuses misspelled flags and stray arguments (exit 2), and --help only prints the usage', async () => {
    const typo = await attune(['verify', '--againts', 'kept.asc'], { DATA_DIR: dir });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^attune verify: Unknown option '--againts'/);
    expect(typo.stdout).toBe('');
    const stray = await attune(['verify', 'now'], { DATA_DIR: dir });
    expect(stray.code).toBe(2);
    const help = await attune(['verify', '--help'], { DATA_DIR: dir });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: attune verify \[--json\] \[--against FILE\]/);
    // checkpoint --help signs nothing (it writes audited checkpoints when it runs).
    const store = await openStore({ dataDir: dir }, { migrate: false });
    const count = async () =>
      (
        await store.db
          .selectFrom('audit_events')
          .select('id')
          .where('action', '=', 'chain.checkpoint')
          .execute()
      ).length;
    try {
      const before = await count();
      const cpHelp = await attune(['checkpoint', '--help'], { DATA_DIR: dir });
      expect(cpHelp.code).toBe(0);
      expect(cpHelp.stdout).toMatch(/^usage: attune checkpoint \[--quiet\]/);
      expect((await attune(['checkpoint', '--quite'], { DATA_DIR: dir })).code).toBe(2);
      expect(await count()).toBe(before);
    } finally {
      await store.close();
    }
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

describe('attune checkpoint and attune verify --against (the real CLI)', () => {
  let dir: string;
  let server: RunningServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'attune-cp-'));
    // No checkpoint timer, so what `attune checkpoint` signs is what this test made.
    server = await serverWithArchive(dir, 3, { CHECKPOINT_INTERVAL_SECONDS: '0' });
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints signed checkpoints that GnuPG verifies with the practice key, and verify checks kept copies', async () => {
    const store = await openStore({ dataDir: dir });
    const signingKey = await store.db
      .selectFrom('practice_keys')
      .select(['public_key', 'fingerprint'])
      .where('purpose', '=', 'signing')
      .executeTakeFirstOrThrow();
    await store.close();
    const archiveChain = `archive:${server.practiceId}`;
    // The server signed at shutdown; more entries since, then an explicit checkpoint.
    const more = await openStore({ dataDir: dir });
    await archiveStoredMessage(
      more.db,
      readMasterKey(testConfig(dir, {}))!,
      server.practiceId,
      Buffer.from('sealed later'),
    );
    await more.close();
    const cp = await attune(['checkpoint'], { DATA_DIR: dir });
    expect(cp.code).toBe(0);
    expect(cp.stderr).toContain('attune checkpoint: 1 new signed checkpoint(s)');
    const blocks =
      cp.stdout.match(/-----BEGIN PGP SIGNED MESSAGE-----[\s\S]*?-----END PGP SIGNATURE-----/g) ?? [];
    expect(blocks.length).toBe(2); // the practice's audit chain and its archive chain
    expect(cp.stdout).toContain(`chain: ${archiveChain}\r\nseq: 4\r\n`);

    const gpg = await GpgHome.create();
    try {
      await gpg.importKey(signingKey.public_key);
      for (const block of blocks) {
        const v = await gpg.run(['--verify'], block);
        expect(v.code).toBe(0);
        expect(v.status.some((l) => l.startsWith(`[GNUPG:] VALIDSIG ${signingKey.fingerprint}`))).toBe(true);
      }
      const altered = blocks[0]!.replace(/seq: (\d+)/, (_m, n: string) => `seq: ${Number(n) + 1}`);
      expect((await gpg.run(['--verify'], altered)).code).not.toBe(0);
    } finally {
      await gpg.dispose();
    }

    const kept = join(dir, 'kept-checkpoints.asc');
    writeFileSync(kept, cp.stdout);
    const ok = await attune(['verify', '--against', kept], { DATA_DIR: dir });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('checked against 2 of 2 kept checkpoints');
    expect(ok.stdout).toMatch(
      new RegExp(`^ok {5}${archiveChain}: 4 entries intact, .* signed to seq 4 at `, 'm'),
    );

    // An insider drops the stored checkpoints and the last entry, and moves the head back: the
    // database alone verifies, the kept copy does not.
    const db = await openStore({ dataDir: dir });
    const third = await db.db
      .selectFrom('archive_entries')
      .select('hash')
      .where('chain', '=', archiveChain)
      .where('seq', '=', 3)
      .executeTakeFirstOrThrow();
    await db.db.deleteFrom('chain_checkpoints').execute();
    // (With its message, as an insider hiding it would.)
    const last = db.db
      .selectFrom('archive_entries')
      .select('ref_id')
      .where('chain', '=', archiveChain)
      .where('seq', '=', 4);
    await db.db.deleteFrom('messages').where('id', 'in', last).execute();
    await db.db
      .deleteFrom('archive_entries')
      .where('chain', '=', archiveChain)
      .where('seq', '=', 4)
      .execute();
    await db.db
      .updateTable('chain_heads')
      .set({ seq: 3, head: third.hash })
      .where('chain', '=', archiveChain)
      .execute();
    await db.close();
    expect((await attune(['verify'], { DATA_DIR: dir })).code).toBe(0);
    const caught = await attune(['verify', '--against', kept], { DATA_DIR: dir });
    expect(caught.code).toBe(1);
    expect(caught.stdout).toContain(`FIRST BREAK: chain ${archiveChain} at seq 4: checkpoint_mismatch`);
  });

  it('reads a store from before checkpoints (not migrated yet), and says so instead of failing', async () => {
    const old = mkdtempSync(join(tmpdir(), 'attune-old-'));
    try {
      await serverWithArchive(old, 2);
      const store = await openStore({ dataDir: old });
      // As a version before 0005 left it: no checkpoint table, and its migrations not recorded.
      await store.db.schema.dropTable('chain_checkpoints').execute();
      await sql`delete from kysely_migration where name >= '0005'`.execute(store.db);
      await store.close();
      const r = await attune(['verify'], { DATA_DIR: old });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(
        'no signed checkpoints: this store has not been migrated by this version yet',
      );
      const cp = await attune(['checkpoint'], { DATA_DIR: old });
      expect(cp.code).toBe(2);
      expect(cp.stderr).toContain('start the server of this version once');
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });
});

describe('attune verify with the master key (the real CLI)', () => {
  it('names each stored message whose content the master key does not vouch for', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'attune-cli-mac-'));
    try {
      const server = await startServer(testConfig(dir, { PRACTICE_DOMAINS: 'calm.example' }));
      const issuer = await loadDevIssuer({
        dataDir: dir,
        issuer: server.config.identity.dev.issuer,
        audience: server.config.identity.dev.audience,
        ttlSeconds: 600,
      });
      const token = await issuer.sign({ email: 'dr.lee@calm.example' });
      const ids: string[] = [];
      for (const text of ['Your A1C is 6.1.', 'See you Tuesday.']) {
        const res = await fetch(`${server.url}/v1/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ to: ['pat@patient.example'], text, delivery: 'client' }),
        });
        expect(res.status).toBe(202);
        ids.push(SendMessageResponseSchema.parse(await res.json()).id);
      }
      // Replaced by someone who can write the database, archive entry and chain included.
      const forged = await forgeBodyCt(server.store.db, server.practiceId, FORGED_MESSAGE);
      await server.store.db
        .updateTable('messages')
        .set({ body_ct: forged })
        .where('id', '=', ids[1]!)
        .execute();
      await rewriteArchived(server.store.db, 'message', ids[1]!, forged);
      await server.close();
      const r = await attune(['verify'], { DATA_DIR: dir });
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(
        'content MACs: 1 of 2 stored messages and replies vouched for by the master key',
      );
      expect(r.stdout).toContain(
        `CONTENT NOT VOUCHED FOR: message or reply ${ids[1]} (archive:${server.practiceId}): content_mac_mismatch`,
      );
      expect(r.stdout).not.toContain(ids[0]!);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

// Admin commands that read the server's store never create or migrate one: pointed at a folder or a
// database where no server of this version has run, they say so (exit 2) instead of a stack trace,
// and leave nothing behind.
describe.each(dialectsUnderTest())(
  'admin commands on a store the server never started on (%s)',
  (dialect) => {
    let dir: string;
    let env: Record<string, string>;
    let drop: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'attune-nostore-'));
      const master = Buffer.alloc(32, 7).toString('base64');
      env = { DATA_DIR: join(dir, 'data'), ATTUNE_MASTER_KEY: master };
      if (dialect === 'postgres') {
        const schema = await createTestSchema();
        drop = schema.drop;
        env = { ...env, DATABASE_URL: schema.databaseUrl, DATABASE_SCHEMA: schema.schema };
      }
    });
    afterAll(async () => {
      await drop?.();
      rmSync(dir, { recursive: true, force: true });
    });

    const commands: Array<[string, string[]]> = [
      ['verify', ['verify']],
      ['checkpoint', ['checkpoint']],
      ['archive export', ['archive', 'export', '--practice', 'example.org', '--out', 'x.jsonl']],
      ['practice', ['practice', 'list']],
      ['deliveries', ['deliveries', 'example.org']],
      ['archive content-macs list', ['archive', 'content-macs', 'example.org', 'list']],
    ];

    it('verify, checkpoint, archive export and content-macs, practice and deliveries exit 2 with what to do, creating nothing', async () => {
      for (const [name, args] of commands) {
        const r = await attune(
          args.map((a) => (a === 'x.jsonl' ? join(dir, 'x.jsonl') : a)),
          env,
        );
        expect(r.stderr, name).toContain(`attune ${name}: no Attune store in `);
        expect(r.stderr, name).toContain('start the server once');
        expect(r.stderr, name).not.toMatch(/\n\s+at /);
        expect(r.code, name).toBe(2);
      }
      expect(existsSync(join(dir, 'data')), 'DATA_DIR created').toBe(false);
      expect(readdirSync(dir)).toEqual([]);
    });

    it('refuses a store a newer version migrated, naming the migrations it does not know', async () => {
      const server = await startServer(testConfig(env['DATA_DIR']!, env));
      await server.close();
      const store = await openStore(testConfig(env['DATA_DIR']!, env), { migrate: false });
      await sql`insert into kysely_migration (name, timestamp) values ('9999-from-the-future', '2030-01-01T00:00:00.000Z')`.execute(
        store.db,
      );
      await store.close();
      for (const [name, args] of commands) {
        const r = await attune(
          args.map((a) => (a === 'x.jsonl' ? join(dir, 'x.jsonl') : a)),
          env,
        );
        expect(r.stderr, name).toContain(
          `attune ${name}: this store was written by a newer version of Attune (migrations 9999-from-the-future)`,
        );
        expect(r.code, name).toBe(2);
      }
      expect(existsSync(join(dir, 'x.jsonl'))).toBe(false);
    });
  },
);
