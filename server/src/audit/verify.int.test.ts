// What `attune verify` (verifyChains) must catch beyond an edited chain entry (security review):
// a chain whose head row is gone, and the copies of messages and replies that the viewer and the
// clinician are actually shown, which must be the ciphertext the archive chain vouches for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendMessageResponseSchema } from '@attune/shared/api';
import { acceptReply, deliveryFor } from '../delivery/index.ts';
import { dialectsUnderTest } from '../store/testing.ts';
import { createTestApp, type TestApp } from '../http/testing.ts';
import { verifyChains } from './index.ts';
import { FORGED_MESSAGE, forgeBodyCt, rewriteArchived } from '../testing/tamper.ts';

describe.each(dialectsUnderTest())('attune verify on %s', (dialect) => {
  let t: TestApp;
  const messages: string[] = [];
  const replies: string[] = [];

  beforeAll(async () => {
    t = await createTestApp(dialect);
    const tok = await t.token('dr.a@a.example.org');
    const svc = deliveryFor(t.deps).services;
    for (const text of ['Your appointment is on Tuesday.', 'Please take 20 mg from tomorrow.']) {
      const r = await t.app.request('/v1/messages', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` },
        body: JSON.stringify({ to: ['pat.one@patients.example'], text, delivery: 'client' }),
      });
      expect(r.status).toBe(202);
      const sent = SendMessageResponseSchema.parse(await r.json());
      messages.push(sent.id);
      const token = /\/m\/([A-Za-z0-9_-]{43})/.exec(sent.notice.text)![1]!;
      const reply = await acceptReply(svc, { token, text: `Thanks (${text.length})`, source: 'viewer' });
      if (!reply.ok) throw new Error(reply.reason);
      replies.push(reply.replyId);
    }
    expect((await verifyChains(t.store.db)).ok).toBe(true);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('still walks a chain whose head row was deleted, and reports the edit and the missing head', async () => {
    const chain = `audit:${t.practiceA}`;
    const head = await t.store.db
      .selectFrom('chain_heads')
      .selectAll()
      .where('chain', '=', chain)
      .executeTakeFirstOrThrow();
    const victim = await t.store.db
      .selectFrom('audit_events')
      .select(['id', 'outcome'])
      .where('chain', '=', chain)
      .where('seq', '=', 2)
      .executeTakeFirstOrThrow();
    await t.store.db.deleteFrom('chain_heads').where('chain', '=', chain).execute();
    try {
      // Only the head gone: every entry is intact, but the chain no longer says how long it is.
      const headless = await verifyChains(t.store.db);
      expect(headless.ok).toBe(false);
      expect(headless.firstBreak).toMatchObject({ chain, reason: 'head_mismatch' });
      // And an entry edited without recomputing anything is found, not skipped with the chain.
      await t.store.db
        .updateTable('audit_events')
        .set({ outcome: 'failure' })
        .where('id', '=', victim.id)
        .execute();
      const edited = await verifyChains(t.store.db);
      expect(edited.ok).toBe(false);
      expect(edited.firstBreak).toEqual({ chain, seq: 2, id: victim.id, reason: 'hash_mismatch' });
    } finally {
      await t.store.db
        .updateTable('audit_events')
        .set({ outcome: victim.outcome })
        .where('id', '=', victim.id)
        .execute();
      await t.store.db.insertInto('chain_heads').values(head).execute();
    }
    expect((await verifyChains(t.store.db)).ok).toBe(true);
  });

  // Messages are what the patient is shown, replies what the clinician reads.
  it.each(['messages', 'replies'] as const)(
    'reports a row of %s whose stored content is not the archived ciphertext',
    async (table) => {
      const [first, second] = (table === 'messages' ? messages : replies) as [string, string];
      // (Widened, as in verify.ts: both tables have the columns used here.)
      const tbl = table as 'messages';
      const rows = await t.store.db
        .selectFrom(tbl)
        .select(['id', 'body_ct'])
        .where('id', 'in', [first, second])
        .execute();
      const original = rows.find((r) => r.id === first)!.body_ct;
      const other = rows.find((r) => r.id === second)!.body_ct;
      // A valid ciphertext to the practice's archive key (here another row's): it decrypts, and would
      // be shown for the first row, while the archive chain is untouched.
      await t.store.db.updateTable(tbl).set({ body_ct: other }).where('id', '=', first).execute();
      try {
        const report = await verifyChains(t.store.db);
        expect(report.ok).toBe(false);
        expect(report.firstBreak).toMatchObject({
          chain: `archive:${t.practiceA}`,
          reason: 'content_mismatch',
          ref: first,
        });
      } finally {
        await t.store.db.updateTable(tbl).set({ body_ct: original }).where('id', '=', first).execute();
      }
      expect((await verifyChains(t.store.db)).ok).toBe(true);
    },
  );

  it('reports a message that no archive entry covers (inserted around the archive)', async () => {
    const row = await t.store.db
      .selectFrom('messages')
      .selectAll()
      .where('id', '=', messages[0]!)
      .executeTakeFirstOrThrow();
    const forged = { ...row, id: '00000000-0000-4000-8000-00000000f0f0', idempotency_key: null };
    await t.store.db.insertInto('messages').values(forged).execute();
    try {
      const report = await verifyChains(t.store.db);
      expect(report.ok).toBe(false);
      expect(report.firstBreak).toMatchObject({
        chain: `archive:${t.practiceA}`,
        reason: 'unarchived',
        ref: forged.id,
      });
    } finally {
      await t.store.db.deleteFrom('messages').where('id', '=', forged.id).execute();
    }
    expect((await verifyChains(t.store.db)).ok).toBe(true);
  });

  it('with the master key, reports content replaced together with its archive entry and recomputed chain, and a stripped MAC', async () => {
    const masterKey = deliveryFor(t.deps).services.masterKey;
    const [first, second] = messages as [string, string];
    const rows = await t.store.db
      .selectFrom('messages')
      .select(['id', 'body_ct', 'body_mac'])
      .where('id', 'in', [first, second])
      .execute();
    const entry = await t.store.db
      .selectFrom('archive_entries')
      .selectAll()
      .where('chain', '=', `archive:${t.practiceA}`)
      .orderBy('seq')
      .execute();
    const head = await t.store.db
      .selectFrom('chain_heads')
      .selectAll()
      .where('chain', '=', `archive:${t.practiceA}`)
      .executeTakeFirstOrThrow();
    const forged = await forgeBodyCt(t.store.db, t.practiceA, FORGED_MESSAGE);
    await t.store.db.updateTable('messages').set({ body_ct: forged }).where('id', '=', first).execute();
    await rewriteArchived(t.store.db, 'message', first, forged);
    await t.store.db.updateTable('messages').set({ body_mac: null }).where('id', '=', second).execute();
    try {
      // Without the master key the rewrite goes unseen (no signed checkpoint covers it here)...
      const blind = await verifyChains(t.store.db);
      expect(blind.chains.find((c) => c.chain === `archive:${t.practiceA}`)?.break).toBeUndefined();
      expect(blind.contentMacsChecked).toBeNull();
      // ...with it, both rows are named.
      const report = await verifyChains(t.store.db, { masterKey });
      expect(report.ok).toBe(false);
      expect(report.contentMacsChecked).toBe(messages.length + replies.length);
      expect(report.contentMacFailures.map((b) => [b.ref, b.reason]).sort()).toEqual(
        [
          [first, 'content_mac_mismatch'],
          [second, 'content_mac_missing'],
        ].sort(),
      );
      expect(report.firstBreak).toMatchObject({ chain: `archive:${t.practiceA}`, seq: 0 });
    } finally {
      for (const r of rows)
        await t.store.db
          .updateTable('messages')
          .set({ body_ct: r.body_ct, body_mac: r.body_mac })
          .where('id', '=', r.id)
          .execute();
      for (const e of entry)
        await t.store.db
          .updateTable('archive_entries')
          .set({
            ciphertext: e.ciphertext,
            ciphertext_sha256: e.ciphertext_sha256,
            prev_hash: e.prev_hash,
            hash: e.hash,
          })
          .where('id', '=', e.id)
          .execute();
      await t.store.db
        .updateTable('chain_heads')
        .set({ head: head.head })
        .where('chain', '=', head.chain)
        .execute();
    }
    const clean = await verifyChains(t.store.db, { masterKey });
    expect(clean.ok).toBe(true);
    expect(clean.contentMacFailures).toEqual([]);
  });
});
