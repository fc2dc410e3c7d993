// GET /v1/replies/:id: the clinician reads a patient's secure reply by the reference in the PHI-free
// reply notice. The notice carries only the reference; the API returns the decrypted text to the
// practice's clinicians only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplySchema } from '@attune/shared/api';
import { mailTexts, startApiFixture, type ApiFixture } from '../api-fixture.ts';
import { FORGED_REPLY, forgeBodyCt } from '../../testing/tamper.ts';

const PATIENT = 'wren.ashdown@a.example.org';

describe('GET /v1/replies/:id (real server)', () => {
  let f: ApiFixture;

  /** The patient replies on the secure page; returns the reply's id, from the notice the clinician got. */
  async function replyOnPage(text: string): Promise<string> {
    const token = f.messageA.linkToken;
    const html = await (await f.request(`/m/${token}`)).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const before = new Set(mailTexts(f.server.config.mailDir));
    const res = await f.request(`/m/${token}/reply`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      redirect: 'manual',
      body: new URLSearchParams({ csrf, text }).toString(),
    });
    expect(res.status).toBe(303);
    for (let i = 0; i < 400; i++) {
      const notice = mailTexts(f.server.config.mailDir).find(
        (m) => !before.has(m) && /secure reply/i.test(m),
      );
      const ref = notice && /Reference: ([0-9a-f-]{36})/.exec(notice)?.[1];
      if (ref) {
        // The notice is PHI-free: the reference, not the words.
        expect(notice).not.toContain(text.slice(0, 20));
        return ref;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('no reply notice reached the mail folder');
  }

  beforeAll(async () => {
    f = await startApiFixture({ patientEmail: PATIENT, patientName: 'Wren Ashdown' });
  });
  afterAll(async () => {
    await f?.close();
  });

  it("returns the patient's words to a clinician of the practice, with who wrote and when", async () => {
    const text = 'Thank you. The new sleep routine is helping; Thursday at 4 works for me.';
    const id = await replyOnPage(text);
    const res = await f.request(`/v1/replies/${id}`, { token: f.tokens.clinicianA });
    expect(res.status).toBe(200);
    const reply = ReplySchema.parse(await res.json());
    expect(reply).toMatchObject({
      id,
      messageId: f.messageA.id,
      from: PATIENT,
      source: 'viewer',
      otherSender: null,
      text,
      crisis: false,
    });
    expect(Date.parse(reply.receivedAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('marks a reply with first-person crisis language, as its notice was', async () => {
    const id = await replyOnPage('I have been thinking about ending my life and I do not feel safe tonight.');
    const reply = ReplySchema.parse(
      await (await f.request(`/v1/replies/${id}`, { token: f.tokens.clinicianA })).json(),
    );
    expect(reply.crisis).toBe(true);
  });

  it('answers 500 content_unreadable, with a clear message, for a stored reply that does not decrypt', async () => {
    const id = await replyOnPage('See you then.');
    const db = f.server.store.db;
    const row = await db
      .selectFrom('replies')
      .select('body_ct')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    const corrupted = Buffer.from(row.body_ct);
    corrupted[corrupted.length - 5] = corrupted[corrupted.length - 5]! ^ 0x20;
    await db.updateTable('replies').set({ body_ct: corrupted }).where('id', '=', id).execute();
    const res = await f.request(`/v1/replies/${id}`, { token: f.tokens.clinicianA });
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('content_unreadable');
    expect(body.error.message).toContain('attune verify');
    const audit = await db
      .selectFrom('audit_events')
      .select(['outcome', 'details'])
      .where('action', '=', 'phi.read')
      .where('target_id', '=', id)
      .execute();
    expect(audit.map((a) => [a.outcome, JSON.parse(a.details) as unknown])).toEqual([
      ['failure', { reason: 'content_unreadable' }],
    ]);
  });

  it('answers 500 content_unreadable, never the forged words, for a reply replaced in the database with other content encrypted to the archive key', async () => {
    const forgedId = await replyOnPage('Thursday works, thank you.');
    const untouchedId = await replyOnPage('See you Thursday.');
    const db = f.server.store.db;
    // The archive key's public half is in the database: the forged reply decrypts like ours.
    const forged = await forgeBodyCt(db, f.practiceA, FORGED_REPLY);
    await db.updateTable('replies').set({ body_ct: forged }).where('id', '=', forgedId).execute();
    const res = await f.request(`/v1/replies/${forgedId}`, { token: f.tokens.clinicianA });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('FORGED');
    expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe('content_unreadable');
    const logged = f.logs
      .map((l) => JSON.parse(l) as { event?: string; id?: string; reason?: string })
      .filter((l) => l.event === 'content_unreadable' && l.id === forgedId);
    expect(logged.map((l) => l.reason)).toEqual(['content_mac_mismatch']);
    expect(f.logs.join('\n')).not.toContain('FORGED');
    const audit = await db
      .selectFrom('audit_events')
      .select(['outcome', 'details'])
      .where('action', '=', 'phi.read')
      .where('target_id', '=', forgedId)
      .execute();
    expect(audit.map((a) => [a.outcome, JSON.parse(a.details) as unknown])).toEqual([
      ['failure', { reason: 'content_unreadable' }],
    ]);
    const ok = await f.request(`/v1/replies/${untouchedId}`, { token: f.tokens.clinicianA });
    expect(ok.status).toBe(200);
    expect(ReplySchema.parse(await ok.json()).text).toBe('See you Thursday.');
  });

  it("answers 404 reply_not_found for another practice's reply, an unknown id and junk", async () => {
    const id = await replyOnPage('See you next week.');
    for (const [path, token] of [
      [`/v1/replies/${id}`, f.tokens.clinicianB],
      ['/v1/replies/00000000-0000-4000-8000-000000000000', f.tokens.clinicianA],
      ['/v1/replies/not-an-id', f.tokens.clinicianA],
    ] as const) {
      const res = await f.request(path, { token });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('reply_not_found');
    }
    expect((await f.request(`/v1/replies/${id}`)).status).toBe(401);
  });
});
