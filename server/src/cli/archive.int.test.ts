import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attune } from './testing.ts';
import { AUDIT } from '../audit/index.ts';
import { testConfig } from '../config.ts';
import { GpgHome } from '../crypto/gpg-cli.ts';
import { linkTokens, waitForLinkToken } from '../http/api-fixture.ts';
import { startServer, type RunningServer } from '../index.ts';
import { createTestSchema, dialectsUnderTest } from '../store/testing.ts';

// Each case runs the CLI (a Node start with tsx, ~1-2 s each).
const SLOW = 180_000;

const WREN = 'wren.ashdown@patients.example.net';
const ASH = 'ash.okafor@patients.example.net';
const PDF = Buffer.from('%PDF-1.4 safety plan (test)\n');

interface Line {
  type: string;
  [k: string]: unknown;
}

const readJsonl = (text: string): Line[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);

// `attune archive export`: the real CLI against the store of a running server (SQLite in DATA_DIR,
// or PostgreSQL through DATABASE_URL), after messages and a reply went through the real server.
describe.each(dialectsUnderTest())('attune archive export (the real CLI) on %s', (dialect) => {
  let dir: string;
  let env: Record<string, string>;
  let server: RunningServer;
  let drop: (() => Promise<void>) | undefined;
  let auth: Record<string, string>;
  let m1: string;
  let m2: string;
  let m3: string;
  let replyId: string;
  /** Between the first message and the second. */
  let cut: string;

  const out = (name: string) => join(dir, name);
  const exportEvents = () =>
    server.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', AUDIT.EXPORT)
      .orderBy('seq')
      .execute();

  async function send(body: object): Promise<string> {
    const known = new Set(linkTokens(server.config.mailDir));
    const res = await fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    // Its notice reached the mail folder before the next send (one new link per message here).
    await waitForLinkToken(server.config.mailDir, known);
    return id;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'attune-archive-'));
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
    auth = { authorization: `Bearer ${((await t.json()) as { token: string }).token}` };

    m1 = await send({
      to: [WREN],
      subject: 'Your safety plan',
      text: 'Attached is the safety plan we wrote together.',
      attachments: [
        {
          filename: 'safety-plan.pdf',
          contentType: 'application/pdf',
          contentBase64: PDF.toString('base64'),
        },
      ],
    });
    await new Promise((r) => setTimeout(r, 20));
    cut = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    m2 = await send({ to: [ASH], subject: 'Intake forms', html: '<p>Please bring the intake forms.</p>' });
    const known = new Set(linkTokens(server.config.mailDir));
    m3 = await send({ to: [WREN], subject: 'Thursday', text: 'Does Thursday at 4 still work?' });
    const link = linkTokens(server.config.mailDir).find((t) => !known.has(t))!;
    // The patient replies on the secure page.
    const page = await (await fetch(`${server.url}/m/${link}`)).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
    const res = await fetch(`${server.url}/m/${link}/reply`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      redirect: 'manual',
      body: new URLSearchParams({ csrf, text: 'Thursday at 4 works, thank you.' }).toString(),
    });
    expect(res.status).toBe(303);
    const reply = await server.store.db
      .selectFrom('replies')
      .select('id')
      .where('message_id', '=', m3)
      .executeTakeFirstOrThrow();
    replyId = reply.id;
  }, SLOW);
  afterAll(async () => {
    await server?.close();
    await drop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'exports every message and reply, decrypted, with sender, recipients, attachments and the chain seq and hash, mode 0600, audited without PHI',
    async () => {
      const file = out('all.jsonl');
      const r = await attune(['archive', 'export', '--practice', 'calm.example.org', '--out', file], env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Exported 4 archive entries (3 messages, 1 replies, 1 attachments)');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const [manifest, ...entries] = readJsonl(readFileSync(file, 'utf8'));
      const head = await server.store.db
        .selectFrom('chain_heads')
        .selectAll()
        .where('chain', '=', `archive:${server.practiceId}`)
        .executeTakeFirstOrThrow();
      expect(manifest).toMatchObject({
        type: 'manifest',
        format: 'attune-archive-export',
        practice: { id: server.practiceId },
        filter: { from: null, to: null, patient: null },
        chain: { name: `archive:${server.practiceId}`, intact: true, verified_entries: 4, head: head.head },
        counts: { entries: 4, messages: 3, replies: 1, attachments: 1, undecryptable: 0, unverified: 0 },
      });
      expect(entries.map((e) => [e['kind'], e['id']])).toEqual([
        ['message', m1],
        ['message', m2],
        ['message', m3],
        ['reply', replyId],
      ]);
      // Each entry matches its archive row (what `attune verify` walks).
      const rows = await server.store.db
        .selectFrom('archive_entries')
        .select(['seq', 'hash', 'ref_id'])
        .where('chain', '=', `archive:${server.practiceId}`)
        .orderBy('seq')
        .execute();
      expect(entries.map((e) => e['archive'])).toEqual(
        rows.map((row) => expect.objectContaining({ seq: row.seq, hash: row.hash, verified: true })),
      );
      expect(entries[3]!['archive']).toMatchObject({ seq: head.seq, hash: head.head });
      expect(entries[0]).toMatchObject({
        practice_id: server.practiceId,
        clinician: { email: 'dr.lee@calm.example.org' },
        recipients: [expect.objectContaining({ email: WREN, kind: 'to' })],
        subject: 'Your safety plan',
        text: 'Attached is the safety plan we wrote together.',
        html: null,
        attachments: [
          {
            filename: 'safety-plan.pdf',
            content_type: 'application/pdf',
            size: PDF.length,
            content_base64: PDF.toString('base64'),
          },
        ],
      });
      expect(Date.parse(entries[0]!['time'] as string)).toBeLessThan(Date.parse(cut));
      expect(entries[1]).toMatchObject({
        subject: 'Intake forms',
        html: '<p>Please bring the intake forms.</p>',
      });
      expect(entries[3]).toMatchObject({
        in_reply_to: m3,
        patient: { email: WREN },
        source: 'viewer',
        text: 'Thursday at 4 works, thank you.',
      });

      // Audited in the practice's chain as the OS user at the CLI: counts and references, no PHI.
      const [ev] = await exportEvents();
      expect(ev).toMatchObject({
        chain: `audit:${server.practiceId}`,
        practice_id: server.practiceId,
        outcome: 'success',
        actor_type: 'cli',
        actor_id: userInfo().username,
      });
      expect(JSON.parse(ev!.details)).toMatchObject({
        entries: 4,
        messages: 3,
        replies: 1,
        attachments: 1,
        from: null,
        to: null,
        patient_filter: false,
        patient_id: null,
        output: 'jsonl',
        chain_intact: true,
      });
      for (const phi of [WREN, 'safety plan', 'Thursday', 'dr.lee'])
        expect(ev!.details.toLowerCase()).not.toContain(phi.toLowerCase());
    },
    SLOW,
  );

  it(
    'keeps one patient’s messages and replies with --patient, and the time range with --from and --to',
    async () => {
      const r = await attune(
        [
          'archive',
          'export',
          '--practice',
          server.practiceId,
          '--patient',
          'Wren.Ashdown@patients.example.net',
          '--out',
          out('wren.jsonl'),
        ],
        env,
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const [manifest, ...entries] = readJsonl(readFileSync(out('wren.jsonl'), 'utf8'));
      const patient = await server.store.db
        .selectFrom('patients')
        .select('id')
        .where('email', '=', WREN)
        .executeTakeFirstOrThrow();
      expect(manifest).toMatchObject({
        filter: { patient: { id: patient.id, email: WREN } },
        counts: { entries: 3, messages: 2, replies: 1 },
      });
      expect(entries.map((e) => e['id'])).toEqual([m1, m3, replyId]);
      // The audit event names the patient by id, never by address.
      const events = await exportEvents();
      const details = events[events.length - 1]!.details;
      expect(JSON.parse(details)).toMatchObject({ patient_filter: true, patient_id: patient.id, entries: 3 });
      expect(details).not.toContain('wren');

      const after = await attune(
        ['archive', 'export', '--practice', server.practiceId, '--from', cut, '--out', out('after.jsonl')],
        env,
      );
      expect(after.code).toBe(0);
      expect(
        readJsonl(readFileSync(out('after.jsonl'), 'utf8'))
          .slice(1)
          .map((e) => e['id']),
      ).toEqual([m2, m3, replyId]);
      const before = await attune(
        ['archive', 'export', '--practice', server.practiceId, '--to', cut, '--out', out('before.jsonl')],
        env,
      );
      expect(before.code).toBe(0);
      expect(
        readJsonl(readFileSync(out('before.jsonl'), 'utf8'))
          .slice(1)
          .map((e) => e['id']),
      ).toEqual([m1]);
      const last = (await exportEvents()).at(-1)!;
      expect(JSON.parse(last.details)).toMatchObject({ from: null, to: cut, entries: 1 });

      // A date alone as --to covers that whole day; --from after --to is a usage error.
      const today = new Date().toISOString().slice(0, 10);
      const day = await attune(
        [
          'archive',
          'export',
          '--practice',
          server.practiceId,
          '--from',
          today,
          '--to',
          today,
          '--out',
          out('day.jsonl'),
        ],
        env,
      );
      expect(day.code).toBe(0);
      expect(readJsonl(readFileSync(out('day.jsonl'), 'utf8'))[0]).toMatchObject({ counts: { entries: 4 } });
    },
    SLOW,
  );

  it(
    'refuses bad usage with exit 2 and an unknown practice or patient with exit 1, writing nothing',
    async () => {
      const file = out('never.jsonl');
      const cases: [string[], number, string][] = [
        [['archive', 'export', '--out', file], 2, '--practice'],
        [['archive', 'export', '--practice', server.practiceId], 2, '--out'],
        [
          ['archive', 'export', '--practice', server.practiceId, '--from', 'last week', '--out', file],
          2,
          'ISO 8601',
        ],
        [
          [
            'archive',
            'export',
            '--practice',
            server.practiceId,
            '--from',
            '2026-02-01',
            '--to',
            '2026-01-01',
            '--out',
            file,
          ],
          2,
          'earlier',
        ],
        [['archive', 'export', '--practice', 'nowhere.example.org', '--out', file], 1, 'no practice'],
        [
          [
            'archive',
            'export',
            '--practice',
            server.practiceId,
            '--patient',
            'nobody@x.example',
            '--out',
            file,
          ],
          1,
          'no patient',
        ],
        [
          [
            'archive',
            'export',
            '--practice',
            server.practiceId,
            '--encrypt-to',
            join(dir, 'none.asc'),
            '--out',
            file,
          ],
          2,
          'cannot read',
        ],
      ];
      for (const [args, code, says] of cases) {
        const r = await attune(args, env);
        expect(r.code, args.join(' ')).toBe(code);
        expect(r.stderr).toContain(says);
        expect(r.stderr).not.toContain('    at ');
      }
      expect(existsSync(file)).toBe(false);
      // An existing file is never overwritten.
      writeFileSync(out('taken.jsonl'), 'keep');
      const taken = await attune(
        ['archive', 'export', '--practice', server.practiceId, '--out', out('taken.jsonl')],
        env,
      );
      expect(taken.code).toBe(2);
      expect(readFileSync(out('taken.jsonl'), 'utf8')).toBe('keep');
    },
    SLOW,
  );

  it(
    'writes only ciphertext with --encrypt-to, which GnuPG decrypts and verifies as signed by the practice',
    async () => {
      const gpg = await GpgHome.create();
      try {
        const admin = await gpg.generateKey('records@calm.example.org');
        writeFileSync(out('records.asc'), admin.publicKey);
        const signing = await server.store.db
          .selectFrom('practice_keys')
          .select('public_key')
          .where('practice_id', '=', server.practiceId)
          .where('purpose', '=', 'signing')
          .executeTakeFirstOrThrow();
        await gpg.importKey(signing.public_key);
        const file = out('sealed.asc');
        const r = await attune(
          [
            'archive',
            'export',
            '--practice',
            server.practiceId,
            '--encrypt-to',
            out('records.asc'),
            '--out',
            file,
          ],
          env,
        );
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(statSync(file).mode & 0o777).toBe(0o600);
        const sealed = readFileSync(file, 'utf8');
        expect(sealed).toMatch(/^-----BEGIN PGP MESSAGE-----/);
        for (const phi of [WREN, 'safety plan', 'Thursday']) expect(sealed).not.toContain(phi);
        const d = await gpg.decrypt(sealed);
        expect(d.code).toBe(0);
        expect(d.status.some((l) => l.startsWith('[GNUPG:] GOODSIG'))).toBe(true);
        const [manifest, ...entries] = readJsonl(d.stdout.toString('utf8'));
        expect(manifest).toMatchObject({ counts: { entries: 4 } });
        expect(entries[3]).toMatchObject({ kind: 'reply', text: 'Thursday at 4 works, thank you.' });
        const last = (await exportEvents()).at(-1)!;
        expect(JSON.parse(last.details)).toMatchObject({ output: 'jsonl+openpgp', entries: 4 });
      } finally {
        await gpg.dispose();
      }
    },
    SLOW,
  );

  it(
    'refuses a tampered archive with exit 1 and no file, audited as a failure; --allow-broken exports it marked',
    async () => {
      const row = await server.store.db
        .selectFrom('archive_entries')
        .select(['id', 'seq'])
        .where('ref_id', '=', m2)
        .executeTakeFirstOrThrow();
      await server.store.db
        .updateTable('archive_entries')
        .set({ at: '2020-01-01T00:00:00.000Z' })
        .where('id', '=', row.id)
        .execute();
      const file = out('tampered.jsonl');
      const r = await attune(['archive', 'export', '--practice', server.practiceId, '--out', file], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`hash_mismatch at seq ${row.seq} (row id ${row.id})`);
      expect(existsSync(file)).toBe(false);
      const refused = (await exportEvents()).at(-1)!;
      expect(refused.outcome).toBe('failure');
      expect(JSON.parse(refused.details)).toMatchObject({ reason: 'chain_broken' });

      const marked = await attune(
        ['archive', 'export', '--practice', server.practiceId, '--allow-broken', '--out', file],
        env,
      );
      expect(marked.code).toBe(0);
      expect(marked.stdout).toContain('BROKEN (hash_mismatch');
      const [manifest, ...entries] = readJsonl(readFileSync(file, 'utf8'));
      expect(manifest).toMatchObject({
        chain: {
          intact: false,
          verified_entries: row.seq - 1,
          break: { reason: 'hash_mismatch', seq: row.seq },
        },
        counts: { entries: 4, unverified: 3 },
      });
      expect(entries.map((e) => (e['archive'] as { verified: boolean }).verified)).toEqual([
        true,
        false,
        false,
        false,
      ]);
    },
    SLOW,
  );
});
