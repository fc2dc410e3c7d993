// Attachment filenames and the viewer's download: a filename with a lone surrogate (valid JSON, not
// Unicode text) is refused at send time, and one already stored still downloads instead of a 500
// (security review: encodeURIComponent threw a URIError on the Content-Disposition header).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendMessageRequestSchema, SendMessageResponseSchema } from '@attune/shared/api';
import { deliveryFor, sendSecureMessage } from '../../delivery/index.ts';
import { MAX_REPLIES_PER_LINK_PER_DAY } from '../../delivery/reply.ts';
import { dialectsUnderTest } from '../../store/testing.ts';
import { createTestApp, type TestApp } from '../testing.ts';
import { FORGED_MESSAGE, forgeBodyCt } from '../../testing/tamper.ts';

const PATIENT = 'pat.one@patients.example';
const PDF = Buffer.from('%PDF-1.4 scan').toString('base64');

describe.each(dialectsUnderTest())('attachment filenames and the viewer download on %s', (dialect) => {
  let t: TestApp;
  let tokA: string;

  beforeAll(async () => {
    t = await createTestApp(dialect);
    tokA = await t.token('dr.a@a.example.org');
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('refuses an attachment filename with a lone surrogate with 400 validation_failed on the field, and stores nothing', async () => {
    const before = (await t.store.db.selectFrom('messages').select('id').execute()).length;
    // The JSON escape \ud800 is valid JSON and, before this check, a valid zod string.
    const body = `{"to":["${PATIENT}"],"text":"hello","attachments":[{"filename":"scan\\ud800.pdf","contentType":"application/pdf","contentBase64":"${PDF}"}]}`;
    const res = await t.app.request('/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokA}` },
      body,
    });
    expect(res.status).toBe(400);
    const err = ((await res.json()) as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('validation_failed');
    expect(err.message).toContain('attachments.0.filename');
    expect((await t.store.db.selectFrom('messages').select('id').execute()).length).toBe(before);
  });

  it('downloads a stored attachment whose filename has a lone surrogate, with U+FFFD in its place', async () => {
    // A message stored before sends refused such names: the send service is called directly.
    expect((await t.app.request('/v1/policy', { headers: { authorization: `Bearer ${tokA}` } })).status).toBe(
      200,
    );
    const clinician = await t.store.db
      .selectFrom('clinicians')
      .select('id')
      .where('email', '=', 'dr.a@a.example.org')
      .executeTakeFirstOrThrow();
    const req = SendMessageRequestSchema.parse({
      to: [PATIENT],
      text: 'hello',
      delivery: 'client',
      attachments: [{ filename: 'scan.pdf', contentType: 'application/pdf', contentBase64: PDF }],
    });
    req.attachments[0]!.filename = 'scan\ud800.pdf';
    const sent = await sendSecureMessage(
      deliveryFor(t.deps).services,
      { practiceId: t.practiceA, clinicianId: clinician.id },
      req,
    );
    if (!sent.ok) throw new Error(`send refused: ${sent.message}`);
    const token = /\/m\/([A-Za-z0-9_-]{43})/.exec(sent.response.notice.text)?.[1];
    expect(token).toBeDefined();

    const res = await t.app.request(`/m/${token}/a/0`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="scan_.pdf"; filename*=UTF-8''scan%EF%BF%BD.pdf`,
    );
    expect(Buffer.from(await res.arrayBuffer()).toString('base64')).toBe(PDF);
  });
});

describe.each(dialectsUnderTest())('what the viewer audits on %s', (dialect) => {
  let t: TestApp;
  let tok: string;

  beforeAll(async () => {
    t = await createTestApp(dialect);
    tok = await t.token('dr.a@a.example.org');
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  async function send(): Promise<{ id: string; token: string; replyToken: string }> {
    const r = await t.app.request('/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` },
      body: JSON.stringify({ to: [PATIENT], text: 'Your results are in.', delivery: 'client' }),
    });
    expect(r.status).toBe(202);
    const sent = SendMessageResponseSchema.parse(await r.json());
    return {
      id: sent.id,
      token: /\/m\/([A-Za-z0-9_-]{43})/.exec(sent.notice.text)![1]!,
      replyToken: /\breply\+([A-Za-z0-9_-]{43})@/.exec(sent.notice.text)![1]!,
    };
  }

  const failures = (messageId: string) =>
    t.store.db
      .selectFrom('audit_events')
      .select(['chain', 'practice_id', 'actor_type', 'target_type', 'details'])
      .where('action', '=', 'auth.failure')
      .where('target_id', '=', messageId)
      .execute();

  it("records tries to open a revoked or expired message in that practice's trail, naming the message", async () => {
    const revoked = await send();
    const rv = await t.app.request(`/v1/messages/${revoked.id}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tok}` },
    });
    expect(rv.status).toBe(200);
    expect((await t.app.request(`/m/${revoked.token}`)).status).toBe(410);
    expect((await t.app.request(`/m/${revoked.token}/a/0`)).status).toBe(410);

    const expired = await send();
    await t.store.db
      .updateTable('viewer_links')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('message_id', '=', expired.id)
      .execute();
    expect((await t.app.request(`/m/${expired.token}`)).status).toBe(410);

    const row = (reason: string) => ({
      chain: `audit:${t.practiceA}`,
      practice_id: t.practiceA,
      actor_type: 'anonymous',
      target_type: 'message',
      details: JSON.stringify({ credential: 'viewer_link', reason }),
    });
    expect(await failures(revoked.id)).toEqual([row('revoked'), row('revoked')]);
    expect(await failures(expired.id)).toEqual([row('expired')]);
  });
  it('does not open a message by the token of its reply address: /m/<reply token> is an unknown link', async () => {
    const { token, replyToken } = await send();
    // The reply address travels in SMTP envelopes, headers and address books; it only delivers a
    // reply by email, never opens the viewer.
    expect(replyToken).not.toBe(token);
    expect((await t.app.request(`/m/${token}`)).status).toBe(200);
    const page = await t.app.request(`/m/${replyToken}`);
    expect(page.status).toBe(404);
    expect(await page.text()).toContain('Link not found');
    expect((await t.app.request(`/m/${replyToken}/a/0`)).status).toBe(404);
    const reply = await t.app.request(`/m/${replyToken}/reply`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `text=hello&csrf=x`,
    });
    expect(reply.status).toBe(404);
    const codeSend = await t.app.request(`/m/${replyToken}/code/send`, { method: 'POST' });
    expect(codeSend.status).toBe(404);
  });
  it('audits a reply by reference only: no crisis finding in the audit payload', async () => {
    const { id, token } = await send();
    const page = await (await t.app.request(`/m/${token}`)).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    const r = await t.app.request(`/m/${token}/reply`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `text=${encodeURIComponent('I want to kill myself.')}&csrf=${encodeURIComponent(csrf)}`,
    });
    expect(r.status).toBe(303);
    const row = await t.store.db
      .selectFrom('audit_events')
      .select(['target_type', 'details'])
      .where('action', '=', 'viewer.reply')
      .where('details', 'like', `%${id}%`)
      .executeTakeFirstOrThrow();
    // Whether a patient's words hold crisis language is their health information: it belongs to
    // the reply and its engagement event, which the practice's clinicians read, not to the trail.
    expect(row.target_type).toBe('reply');
    expect(JSON.parse(row.details)).toEqual({ messageId: id, source: 'viewer' });
  });
  it('takes at most MAX_REPLIES_PER_LINK_PER_DAY replies on one link a day, then refuses with 429 and says where to get help', async () => {
    const { id, token } = await send();
    const page = await (await t.app.request(`/m/${token}`)).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    const reply = (text: string) =>
      t.app.request(`/m/${token}/reply`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `text=${encodeURIComponent(text)}&csrf=${encodeURIComponent(csrf)}`,
      });
    for (let i = 0; i < MAX_REPLIES_PER_LINK_PER_DAY; i++)
      expect((await reply(`note ${i}`)).status).toBe(303);
    const refused = await reply('one more');
    expect(refused.status).toBe(429);
    const text = await refused.text();
    expect(text).toContain('Reply not sent');
    expect(text).toContain('988');
    const stored = () => t.store.db.selectFrom('replies').select('id').where('message_id', '=', id).execute();
    expect(await stored()).toHaveLength(MAX_REPLIES_PER_LINK_PER_DAY);
    const denied = await t.store.db
      .selectFrom('audit_events')
      .select(['outcome', 'target_type', 'details'])
      .where('action', '=', 'viewer.reply')
      .where('outcome', '=', 'failure')
      .where('target_id', '=', id)
      .execute();
    expect(denied.map((r) => ({ ...r, details: JSON.parse(r.details) as unknown }))).toEqual([
      { outcome: 'failure', target_type: 'message', details: { source: 'viewer', reason: 'too_many' } },
    ]);
    // The window rolls: once the day's replies are older than 24 hours, the link takes replies again.
    await t.store.db
      .updateTable('replies')
      .set({ created_at: new Date(Date.now() - 25 * 3600_000).toISOString() })
      .where('message_id', '=', id)
      .execute();
    expect((await reply('a day later')).status).toBe(303);
    expect(await stored()).toHaveLength(MAX_REPLIES_PER_LINK_PER_DAY + 1);
  });
  it('shows a plain page, not an error body, for a stored message that does not decrypt, and audits the failed read', async () => {
    const { id, token } = await send();
    const row = await t.store.db
      .selectFrom('messages')
      .select('body_ct')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    const corrupted = Buffer.from(row.body_ct);
    corrupted[corrupted.length - 5] = corrupted[corrupted.length - 5]! ^ 0x20;
    await t.store.db.updateTable('messages').set({ body_ct: corrupted }).where('id', '=', id).execute();
    for (const path of [`/m/${token}`, `/m/${token}/a/0`]) {
      const r = await t.app.request(path);
      expect(r.status).toBe(500);
      expect(r.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await r.text();
      expect(html).toContain('Message unavailable');
      expect(html).toContain('cannot be shown right now');
    }
    const failed = await t.store.db
      .selectFrom('audit_events')
      .select(['outcome', 'details'])
      .where('action', '=', 'viewer.open')
      .where('target_id', '=', id)
      .execute();
    expect(failed.map((f) => [f.outcome, JSON.parse(f.details) as unknown])).toEqual([
      ['failure', { reason: 'content_unreadable' }],
      ['failure', { reason: 'content_unreadable' }],
    ]);
  });
  it('shows "Message unavailable", never the forged content, for a message replaced in the database with other content encrypted to the archive key, or stripped of its MAC', async () => {
    const forgedRow = await send();
    const stripped = await send();
    const untouched = await send();
    // What someone with write access to the database but not the master key can do: the archive
    // key's public half is in the database, so their content decrypts like ours.
    const forged = await forgeBodyCt(t.store.db, t.practiceA, FORGED_MESSAGE);
    await t.store.db
      .updateTable('messages')
      .set({ body_ct: forged })
      .where('id', '=', forgedRow.id)
      .execute();
    // Clearing the MAC (as if the row predated it) does not get content past the check either.
    await t.store.db
      .updateTable('messages')
      .set({ body_ct: forged, body_mac: null })
      .where('id', '=', stripped.id)
      .execute();
    for (const { token } of [forgedRow, stripped]) {
      for (const path of [`/m/${token}`, `/m/${token}/a/0`]) {
        const r = await t.app.request(path);
        expect(r.status).toBe(500);
        const html = await r.text();
        expect(html).toContain('Message unavailable');
        expect(html).not.toContain('FORGED');
      }
    }
    const reasons = t.logs
      .map((l) => JSON.parse(l) as { event?: string; id?: string; reason?: string })
      .filter((l) => l.event === 'content_unreadable' && (l.id === forgedRow.id || l.id === stripped.id))
      .map((l) => [l.id, l.reason]);
    expect(reasons).toEqual([
      [forgedRow.id, 'content_mac_mismatch'],
      [forgedRow.id, 'content_mac_mismatch'],
      [stripped.id, 'content_mac_missing'],
      [stripped.id, 'content_mac_missing'],
    ]);
    const failed = await t.store.db
      .selectFrom('audit_events')
      .select(['outcome', 'details'])
      .where('action', '=', 'viewer.open')
      .where('target_id', '=', forgedRow.id)
      .execute();
    expect(failed.map((f) => [f.outcome, JSON.parse(f.details) as unknown])).toEqual([
      ['failure', { reason: 'content_unreadable' }],
      ['failure', { reason: 'content_unreadable' }],
    ]);
    const ok = await t.app.request(`/m/${untouched.token}`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('Your results are in.');
  });
});
