// Rows stored before content MACs (migration 0008) get theirs when the server starts, only where the
// archive vouches for them; a row left without one is refused at every read.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SendMessageResponseSchema } from '@attune/shared/api';
import { writeCheckpoints } from '../audit/index.ts';
import { practiceSigner } from '../checkpoints.ts';
import { acceptReply, deliveryFor } from '../delivery/index.ts';
import { createTestApp, type TestApp } from '../http/testing.ts';
import { FORGED_MESSAGE, forgeBodyCt, rewriteArchived } from '../testing/tamper.ts';
import { backfillContentMacs } from './content-macs.ts';
import { dialectsUnderTest } from './testing.ts';

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
    // As a store written before migration 0008 has them: no MACs.
    await t.store.db.updateTable('messages').set({ body_mac: null }).execute();
    await t.store.db.updateTable('replies').set({ body_mac: null }).execute();
  });
  afterEach(async () => {
    await t?.cleanup();
  });

  const masterKey = () => deliveryFor(t.deps).services.masterKey;
  const open = async (token: string) => {
    const r = await t.app.request(`/m/${token}`);
    return { status: r.status, html: await r.text() };
  };

  it('refuses a row without a MAC until the archive vouches for it, then binds every such row once', async () => {
    expect((await open(sent[1]!.token)).html).toContain('Message unavailable');
    expect(await backfillContentMacs(t.store.db, masterKey())).toEqual({ bound: 4, refused: 0 });
    const page = await open(sent[1]!.token);
    expect(page.status).toBe(200);
    expect(page.html).toContain('See you on Tuesday.');
    const reply = await t.app.request(`/v1/replies/${replyId}`, {
      headers: { authorization: `Bearer ${await t.token('dr.a@a.example.org')}` },
    });
    expect(reply.status).toBe(200);
    // Nothing left to do on the next start.
    expect(await backfillContentMacs(t.store.db, masterKey())).toEqual({ bound: 0, refused: 0 });
  });

  it('leaves a row whose content is not its archived ciphertext without a MAC, and binds the others', async () => {
    const forged = await forgeBodyCt(t.store.db, t.practiceA, FORGED_MESSAGE);
    await t.store.db.updateTable('messages').set({ body_ct: forged }).where('id', '=', sent[1]!.id).execute();
    expect(await backfillContentMacs(t.store.db, masterKey())).toEqual({ bound: 3, refused: 1 });
    const page = await open(sent[1]!.token);
    expect(page.status).toBe(500);
    expect(page.html).toContain('Message unavailable');
    expect(page.html).not.toContain('FORGED');
    expect((await open(sent[2]!.token)).html).toContain('Bring the worksheet.');
  });

  it('binds nothing of a practice whose archive chain was rewritten to match, as a signed checkpoint shows', async () => {
    await writeCheckpoints(t.store.db, practiceSigner(t.store.db, masterKey(), t.practiceA), {
      masterKey: masterKey(),
    });
    const forged = await forgeBodyCt(t.store.db, t.practiceA, FORGED_MESSAGE);
    await t.store.db.updateTable('messages').set({ body_ct: forged }).where('id', '=', sent[1]!.id).execute();
    await rewriteArchived(t.store.db, 'message', sent[1]!.id, forged);
    expect(await backfillContentMacs(t.store.db, masterKey())).toEqual({ bound: 0, refused: 4 });
    const page = await open(sent[1]!.token);
    expect(page.html).toContain('Message unavailable');
    expect(page.html).not.toContain('FORGED');
  });
});
