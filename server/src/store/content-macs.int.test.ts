// Rows stored before content MACs (migration 0008) get theirs when the server starts, only where the
// archive vouches for them; a row left without one is refused at every read. Vouching means the chain
// verifies and, unless this process applied 0008 just now (the upgrade start), a signed checkpoint
// covers the row's entry: entries after the last checkpoint can be rewritten by whoever can write
// the database, and a row found without a MAC there stays refused.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SendMessageResponseSchema } from '@attune/shared/api';
import { verifyChains, writeCheckpoints } from '../audit/index.ts';
import { practiceSigner } from '../checkpoints.ts';
import { acceptReply, deliveryFor } from '../delivery/index.ts';
import { createTestApp, type TestApp } from '../http/testing.ts';
import { FORGED_MESSAGE, forgeBodyCt, rewriteArchived } from '../testing/tamper.ts';
import { backfillContentMacs, CONTENT_MAC_MIGRATION } from './content-macs.ts';
import { newId, openStore } from './store.ts';
import { appendArchive } from '../archive/index.ts';
import { createTestStore, dialectsUnderTest } from './testing.ts';

describe.each(dialectsUnderTest())('content MACs for rows stored before them, on %s', (dialect) => {
  let t: TestApp;
  const sent: Array<{ id: string; token: string }> = [];
  let replyId: string;

  beforeEach(async () => {
    t = await createTestApp(dialect);
    sent.length = 0;
    const tok = await t.token('dr.a@a.example.org');
    for (const text of ['Your results are in.', 'See you on Tuesday.', 'Bring the worksheet.']) {
      const r = await t.app.request('/v1/messages', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` },
        body: JSON.stringify({ to: ['pat.one@patients.example'], text, delivery: 'client' }),
      });
      expect(r.status).toBe(202);
      const s = SendMessageResponseSchema.parse(await r.json());
      sent.push({ id: s.id, token: /\/m\/([A-Za-z0-9_-]{43})/.exec(s.notice.text)![1]! });
    }
    const reply = await acceptReply(deliveryFor(t.deps).services, {
      token: sent[0]!.token,
      text: 'Thanks.',
      source: 'viewer',
    });
    if (!reply.ok) throw new Error(reply.reason);
    replyId = reply.replyId;
  });
  afterEach(async () => {
    await t?.cleanup();
  });

  const masterKey = () => deliveryFor(t.deps).services.masterKey;
  /** As a store written before migration 0008 has them (or a restore that lost them): no MACs. */
  const clearMacs = async () => {
    await t.store.db.updateTable('messages').set({ body_mac: null }).execute();
    await t.store.db.updateTable('replies').set({ body_mac: null }).execute();
  };
  const checkpoint = () =>
    writeCheckpoints(t.store.db, practiceSigner(t.store.db, masterKey(), t.practiceA), {
      masterKey: masterKey(),
    });
  const upgrade = { upgrade: true };
  const later = { upgrade: false };
  const open = async (token: string) => {
    const r = await t.app.request(`/m/${token}`);
    return { status: r.status, html: await r.text() };
  };

  it('refuses a row without a MAC until the archive vouches for it, then binds every such row once on the upgrade start', async () => {
    await clearMacs();
    expect((await open(sent[1]!.token)).html).toContain('Message unavailable');
    // Not the upgrade start and no checkpoint: the chain alone vouches for nothing.
    expect(await backfillContentMacs(t.store.db, masterKey(), later)).toEqual({ bound: 0, refused: 4 });
    expect(await backfillContentMacs(t.store.db, masterKey(), upgrade)).toEqual({ bound: 4, refused: 0 });
    const page = await open(sent[1]!.token);
    expect(page.status).toBe(200);
    expect(page.html).toContain('See you on Tuesday.');
    const reply = await t.app.request(`/v1/replies/${replyId}`, {
      headers: { authorization: `Bearer ${await t.token('dr.a@a.example.org')}` },
    });
    expect(reply.status).toBe(200);
    // Nothing left to do on the next start.
    expect(await backfillContentMacs(t.store.db, masterKey(), later)).toEqual({ bound: 0, refused: 0 });
  });

  it('leaves a row whose content is not its archived ciphertext without a MAC, and binds the others', async () => {
    await clearMacs();
    const forged = await forgeBodyCt(t.store.db, t.practiceA, FORGED_MESSAGE);
    await t.store.db.updateTable('messages').set({ body_ct: forged }).where('id', '=', sent[1]!.id).execute();
    expect(await backfillContentMacs(t.store.db, masterKey(), upgrade)).toEqual({ bound: 3, refused: 1 });
    const page = await open(sent[1]!.token);
    expect(page.status).toBe(500);
    expect(page.html).toContain('Message unavailable');
    expect(page.html).not.toContain('FORGED');
    expect((await open(sent[2]!.token)).html).toContain('Bring the worksheet.');
  });

  it('binds nothing of a practice whose archive chain was rewritten to match, as a signed checkpoint shows', async () => {
    expect((await checkpoint()).written.length).toBeGreaterThan(0);
    await clearMacs();
    const forged = await forgeBodyCt(t.store.db, t.practiceA, FORGED_MESSAGE);
    await t.store.db.updateTable('messages').set({ body_ct: forged }).where('id', '=', sent[1]!.id).execute();
    await rewriteArchived(t.store.db, 'message', sent[1]!.id, forged);
    expect(await backfillContentMacs(t.store.db, masterKey(), upgrade)).toEqual({ bound: 0, refused: 4 });
    const page = await open(sent[1]!.token);
    expect(page.html).toContain('Message unavailable');
    expect(page.html).not.toContain('FORGED');
  });

  it('binds rows a signed checkpoint covers that merely lost their MAC (a restore), on any start', async () => {
    await checkpoint();
    await clearMacs();
    expect(await backfillContentMacs(t.store.db, masterKey(), later)).toEqual({ bound: 4, refused: 0 });
    expect((await open(sent[1]!.token)).html).toContain('See you on Tuesday.');
  });

  it('leaves refused a row written after the last checkpoint whose MAC, content, archive entry and chain were rewritten', async () => {
    await checkpoint();
    const tok = await t.token('dr.a@a.example.org');
    const r = await t.app.request('/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` },
      body: JSON.stringify({
        to: ['pat.one@patients.example'],
        text: 'Session moved to 3 pm.',
        delivery: 'client',
      }),
    });
    const late = SendMessageResponseSchema.parse(await r.json());
    const lateToken = /\/m\/([A-Za-z0-9_-]{43})/.exec(late.notice.text)![1]!;
    // The attack: no master key, but write access to the database.
    const forged = await forgeBodyCt(t.store.db, t.practiceA, FORGED_MESSAGE);
    await t.store.db
      .updateTable('messages')
      .set({ body_ct: forged, body_mac: null })
      .where('id', '=', late.id)
      .execute();
    await rewriteArchived(t.store.db, 'message', late.id, forged);
    // The chain verifies again, but no checkpoint covers the entry: not bound at a restart.
    expect(await backfillContentMacs(t.store.db, masterKey(), later)).toEqual({ bound: 0, refused: 1 });
    // Nor can a checkpoint run be made to cover it: the stretch holds a row without its MAC.
    const run = await checkpoint();
    expect(run.written.filter((w) => w.chain.startsWith('archive:'))).toEqual([]);
    expect(run.refused).toEqual([
      expect.objectContaining({ reason: 'content_mac_missing', ref: late.id }) as unknown,
    ]);
    expect(await backfillContentMacs(t.store.db, masterKey(), later)).toEqual({ bound: 0, refused: 1 });
    const page = await open(lateToken);
    expect(page.html).toContain('Message unavailable');
    expect(page.html).not.toContain('FORGED');
    // attune verify (with the master key) names the row; the rows before the checkpoint are fine.
    const report = await verifyChains(t.store.db, { masterKey: masterKey() });
    expect(report.ok).toBe(false);
    expect(report.contentMacFailures).toEqual([
      expect.objectContaining({ reason: 'content_mac_missing', ref: late.id }) as unknown,
    ]);
    expect((await open(sent[1]!.token)).html).toContain('See you on Tuesday.');
  });

  it('does not sign over an archived message whose row is not there, so a row slipped in later is not bound', async () => {
    await checkpoint();
    // The attack: an archive entry first (anyone can encrypt to the archive's public key), signed by
    // the next checkpoint run, then its row without a MAC, bound at a restart as "covered".
    const forged = await forgeBodyCt(t.store.db, t.practiceA, FORGED_MESSAGE);
    const slipped = newId();
    await appendArchive(t.store.db, {
      practiceId: t.practiceA,
      kind: 'message',
      refId: slipped,
      ciphertext: forged,
    });
    const run = await checkpoint();
    expect(run.written.filter((w) => w.chain.startsWith('archive:'))).toEqual([]);
    expect(run.refused).toEqual([
      expect.objectContaining({ reason: 'row_missing', ref: slipped }) as unknown,
    ]);
    const model = await t.store.db
      .selectFrom('messages')
      .selectAll()
      .where('id', '=', sent[0]!.id)
      .executeTakeFirstOrThrow();
    await t.store.db
      .insertInto('messages')
      .values({ ...model, id: slipped, body_ct: forged, body_mac: null })
      .execute();
    expect(await backfillContentMacs(t.store.db, masterKey(), later)).toEqual({ bound: 0, refused: 1 });
  });
});

describe.each(dialectsUnderTest())('the store says which migrations it applied, on %s', (dialect) => {
  it('names 0008 on the first open and nothing on the next', async () => {
    const s = await createTestStore(dialect);
    try {
      expect(s.migrated).toContain(CONTENT_MAC_MIGRATION);
      const again = await openStore({
        dataDir: s.dataDir,
        ...(s.databaseUrl ? { databaseUrl: s.databaseUrl, pgSchema: s.pgSchema } : {}),
      });
      expect(again.migrated).toEqual([]);
      await again.close();
    } finally {
      await s.cleanup();
    }
  });
});
