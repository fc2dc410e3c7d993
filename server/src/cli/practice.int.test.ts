import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { readKey } from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attune } from './testing.ts';
import { AUDIT } from '../audit/index.ts';
import { generateMasterKey } from '../crypto/index.ts';
import { testConfig } from '../config.ts';
import { startServer, type RunningServer } from '../index.ts';
import { createTestSchema, dialectsUnderTest } from '../store/testing.ts';

// Each case runs the CLI several times (a Node start with tsx, ~1-2 s each).
const SLOW = 180_000;

const TENANT = '0b5a3c1e-7d2f-4e8a-9c6b-1f2e3d4c5b6a';

// `attune practice`: the real CLI against the store of a running server (SQLite in DATA_DIR, or
// PostgreSQL through DATABASE_URL), which serves a new practice without a restart.
describe.each(dialectsUnderTest())('attune practice (the real CLI) on %s', (dialect) => {
  let dir: string;
  let env: Record<string, string>;
  let server: RunningServer;
  let drop: (() => Promise<void>) | undefined;
  let calm: string;

  const token = (email: string) =>
    fetch(`${server.url}/v1/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email }),
    });
  const practiceEvents = () =>
    server.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', AUDIT.PRACTICE_CHANGE)
      .orderBy('at')
      .orderBy('seq')
      .execute();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'attune-practice-'));
    env = { DATA_DIR: dir, CHECKPOINT_INTERVAL_SECONDS: '0' };
    if (dialect === 'postgres') {
      const schema = await createTestSchema();
      drop = schema.drop;
      env = { ...env, DATABASE_URL: schema.databaseUrl, DATABASE_SCHEMA: schema.schema };
    }
    server = await startServer(testConfig(dir, env));
  });
  afterAll(async () => {
    await server?.close();
    await drop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'adds a practice that the running server serves at once: keys sealed, domains mapped, a clinician signs in and sends',
    async () => {
      const keyFile = join(dir, 'calm-archive.asc');
      const r = await attune(
        [
          'practice',
          'add',
          '--name',
          'Calm Clinic',
          '--domain',
          'Calm.Example.org',
          '--domain',
          'calm2.example.org',
          '--archive-key-out',
          keyFile,
          '--json',
        ],
        env,
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const { practice } = JSON.parse(r.stdout) as {
        practice: {
          id: string;
          name: string;
          domains: string[];
          keys: { purpose: string; fingerprint: string }[];
        };
      };
      calm = practice.id;
      expect(calm).not.toBe(server.practiceId);
      expect(practice).toMatchObject({
        name: 'Calm Clinic',
        domains: ['calm.example.org', 'calm2.example.org'],
      });
      expect(practice.keys.map((k) => k.purpose).sort()).toEqual(['archive', 'signing']);

      // The keys are in the store, private halves sealed under the master key; the file holds the
      // archive key's public half.
      const keys = await server.store.db
        .selectFrom('practice_keys')
        .selectAll()
        .where('practice_id', '=', calm)
        .execute();
      expect(keys).toHaveLength(2);
      for (const k of keys) expect(k.sealed_private_key).not.toContain('PRIVATE KEY');
      const armored = readFileSync(keyFile, 'utf8');
      expect(armored).toContain('BEGIN PGP PUBLIC KEY BLOCK');
      expect(armored).not.toContain('PRIVATE');
      const archiveKey = await readKey({ armoredKey: armored });
      expect(archiveKey.getFingerprint().toUpperCase()).toBe(
        keys.find((k) => k.purpose === 'archive')!.fingerprint,
      );

      // Audited in the new practice's chain, by the OS user at the CLI; references and domains only.
      const [added] = await practiceEvents();
      expect(added).toMatchObject({
        chain: `audit:${calm}`,
        practice_id: calm,
        outcome: 'success',
        actor_type: 'cli',
        actor_id: userInfo().username,
        target_type: 'practice',
        target_id: calm,
      });
      expect(JSON.parse(added!.details)).toEqual({
        operation: 'add',
        domains: 'calm.example.org,calm2.example.org',
        reply_domain: null,
        entra_tenant: null,
      });

      // No restart: a clinician of the new practice gets a token, is mapped to it, and sends.
      const t = await token('dr.rivera@calm.example.org');
      expect(t.status).toBe(200);
      const auth = { authorization: `Bearer ${((await t.json()) as { token: string }).token}` };
      const policy = await fetch(`${server.url}/v1/policy`, { headers: auth });
      expect(policy.status).toBe(200);
      const sent = await fetch(`${server.url}/v1/messages`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          to: ['patient@elsewhere.example.net'],
          subject: 'Next week',
          text: 'See you on Tuesday.',
        }),
      });
      expect(sent.status).toBe(202);
      const { id } = (await sent.json()) as { id: string };
      const message = await server.store.db
        .selectFrom('messages')
        .select('practice_id')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      expect(message.practice_id).toBe(calm);
      const clinician = await server.store.db
        .selectFrom('clinicians')
        .select('practice_id')
        .where('email', '=', 'dr.rivera@calm.example.org')
        .executeTakeFirstOrThrow();
      expect(clinician.practice_id).toBe(calm);
      // Archived to the new practice's own chain, under its own archive key.
      const entry = await server.store.db
        .selectFrom('archive_entries')
        .select('chain')
        .where('ref_id', '=', id)
        .executeTakeFirstOrThrow();
      expect(entry.chain).toBe(`archive:${calm}`);
    },
    SLOW,
  );

  it(
    'refuses a domain another practice has and a malformed one, with a clear message and a non-zero exit',
    async () => {
      const count = async () => (await server.store.db.selectFrom('practices').select('id').execute()).length;
      const before = await count();

      const taken = await attune(
        ['practice', 'add', '--name', 'Copycat', '--domain', 'calm2.example.org'],
        env,
      );
      expect(taken.code).toBe(1);
      expect(taken.stderr).toContain(`refused: domain calm2.example.org already belongs to practice ${calm}`);
      expect(taken.stdout).toBe('');
      // The refusal is audited (the deployment's chain: no practice was made), actor cli.
      const refusal = (await practiceEvents()).find((e) => e.outcome === 'failure')!;
      expect(refusal).toMatchObject({ chain: 'audit', practice_id: null, actor_type: 'cli' });
      expect(JSON.parse(refusal.details)).toEqual({
        operation: 'add',
        reason: 'domain_taken',
        domain: 'calm2.example.org',
        owner: calm,
      });

      // The configured practice's domain (PRACTICE_DOMAINS) stays with it.
      const configured = await attune(['practice', 'add', '--name', 'X', '--domain', 'example.org'], env);
      expect(configured.code).toBe(1);
      expect(configured.stderr).toContain('domain example.org is in PRACTICE_DOMAINS');

      // A master key other than the server's would seal keys the server can never open.
      const otherKey = await attune(['practice', 'add', '--name', 'Z', '--domain', 'z.example.org'], {
        ...env,
        ATTUNE_MASTER_KEY: generateMasterKey(),
      });
      expect(otherKey.code).toBe(2);
      expect(otherKey.stderr).toContain('this master key does not open the keys in this store');

      // (Domain syntax in detail: store/practices.test.ts.)
      for (const bad of ['not a domain', 'dr@calm.example.com']) {
        const r = await attune(['practice', 'add', '--name', 'Bad', '--domain', bad], env);
        expect(r.code, bad).toBe(2);
        expect(r.stderr).toContain(`"${bad}" is not a mail domain`);
      }
      const noName = await attune(['practice', 'add', '--domain', 'fresh.example.org'], env);
      expect(noName.code).toBe(2);
      expect(noName.stderr).toContain('give the practice a --name');
      const stray = await attune(
        ['practice', 'add', '--name', 'Y', '--domain', 'y.example.org', '--force'],
        env,
      );
      expect(stray.code).toBe(2);
      expect(stray.stderr).toContain("Unknown option '--force'");
      const tenant = await attune(
        ['practice', 'add', '--name', 'Y', '--domain', 'y.example.org', '--entra-tenant', 'contoso'],
        env,
      );
      expect(tenant.code).toBe(2);
      expect(tenant.stderr).toContain('--entra-tenant must be the tenant id');
      expect(await count()).toBe(before);
    },
    SLOW,
  );

  it(
    'replaces a practice’s domains: a removed domain stops signing in and an added one starts, without a restart',
    async () => {
      const r = await attune(
        [
          'practice',
          'set-domains',
          'calm.example.org',
          '--domain',
          'calm.example.org,calm3.example.org',
          '--json',
        ],
        env,
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({
        practiceId: calm,
        domains: ['calm.example.org', 'calm3.example.org'],
        added: ['calm3.example.org'],
        removed: ['calm2.example.org'],
      });
      expect((await token('dr.lee@calm2.example.org')).status).toBe(400);
      expect((await token('dr.lee@calm3.example.org')).status).toBe(200);
      const last = (await practiceEvents()).at(-1)!;
      expect(last).toMatchObject({ practice_id: calm, actor_type: 'cli', outcome: 'success' });
      expect(JSON.parse(last.details)).toMatchObject({
        operation: 'set_domains',
        added: 'calm3.example.org',
        removed: 'calm2.example.org',
      });

      // The configured practice keeps PRACTICE_DOMAINS; no practice takes another's domain.
      const own = await attune(
        ['practice', 'set-domains', server.practiceId, '--domain', 'other.example.org'],
        env,
      );
      expect(own.code).toBe(1);
      expect(own.stderr).toContain('domain example.org is in PRACTICE_DOMAINS');
      const grab = await attune(
        [
          'practice',
          'set-domains',
          server.practiceId,
          '--domain',
          'example.org',
          '--domain',
          'calm3.example.org',
        ],
        env,
      );
      expect(grab.code).toBe(1);
      expect(grab.stderr).toContain(`domain calm3.example.org already belongs to practice ${calm}`);
      const unknown = await attune(
        ['practice', 'set-domains', 'nobody.example.org', '--domain', 'n.example.org'],
        env,
      );
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('no practice nobody.example.org');
    },
    SLOW,
  );

  it(
    'sets an Entra tenant once per deployment and lists every practice',
    async () => {
      const set = await attune(['practice', 'set', calm, '--entra-tenant', TENANT.toUpperCase()], env);
      expect(set.code).toBe(0);
      expect(set.stdout).toContain('Changed entra_tenant_id.');
      const row = await server.store.db
        .selectFrom('practices')
        .select('entra_tenant_id')
        .where('id', '=', calm)
        .executeTakeFirstOrThrow();
      expect(row.entra_tenant_id).toBe(TENANT);
      const second = await attune(
        ['practice', 'add', '--name', 'Other', '--domain', 'other.example.org', '--entra-tenant', TENANT],
        env,
      );
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`that Entra tenant already belongs to practice ${calm}`);
      // The configured practice's settings are its PRACTICE_* variables.
      const configured = await attune(['practice', 'set', server.practiceId, '--name', 'Renamed'], env);
      expect(configured.code).toBe(1);
      expect(configured.stderr).toContain('PRACTICE_NAME');

      const json = await attune(['practice', 'list', '--json'], env);
      expect(json.code).toBe(0);
      const { practices } = JSON.parse(json.stdout) as {
        practices: { id: string; domains: string[]; configured: boolean; clinicians: number }[];
      };
      expect(practices.map((p) => [p.id, p.domains, p.configured])).toEqual([
        [server.practiceId, ['example.org'], true],
        [calm, ['calm.example.org', 'calm3.example.org'], false],
      ]);
      expect(practices[1]!.clinicians).toBe(1);
      const text = await attune(['practice', 'list'], env);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain(
        `${calm}  Calm Clinic\n  domains:      calm.example.org, calm3.example.org`,
      );
      expect(text.stdout).toContain(`Entra tenant: ${TENANT}`);

      // Every change above is in the chains, which still verify.
      const verify = await attune(['verify'], env);
      expect(verify.stdout).not.toContain('BROKEN');
      expect(verify.code).toBe(0);
    },
    SLOW,
  );
});
