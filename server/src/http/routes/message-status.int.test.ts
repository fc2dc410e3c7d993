// GET /v1/messages/:id as the sending clinician reads it: each recipient's lastError is the code the
// admins' listing shows (delivery/admin.ts), never the stored text, which can quote the remote
// server and through it the patient's address, name or words of the message. Real app, real store
// (each dialect under test), the worker driven by the test (the development mail folder).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageStatusResponseSchema, SendMessageResponseSchema } from '@attune/shared/api';
import { recordDeliveryReport } from '../../delivery/delivery-report.ts';
import { deliveryFor } from '../../delivery/index.ts';
import { dialectsUnderTest } from '../../store/testing.ts';
import { createTestApp, type TestApp } from '../testing.ts';

const PATIENT = 'jordan.alvarez@patients.example';

describe.each(dialectsUnderTest())('GET /v1/messages/:id lastError on %s', (dialect) => {
  let t: TestApp;
  let clinician: string;

  beforeAll(async () => {
    t = await createTestApp(dialect);
    clinician = await t.token('dr.a@a.example.org');
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const send = async () => {
    const res = await t.app.request('/v1/messages', {
      method: 'POST',
      headers: { authorization: `Bearer ${clinician}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: [PATIENT], subject: 'Follow-up', text: 'See you Thursday.' }),
    });
    expect(res.status).toBe(202);
    const id = SendMessageResponseSchema.parse(await res.json()).id;
    const worker = deliveryFor(t.deps).worker;
    while ((await worker.runOnce()) > 0);
    const d = await t.store.db
      .selectFrom('deliveries')
      .select(['id', 'status'])
      .where('message_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(d.status).toBe('sent');
    return { messageId: id, deliveryId: d.id };
  };
  const status = async (messageId: string) => {
    const res = await t.app.request(`/v1/messages/${messageId}`, {
      headers: { authorization: `Bearer ${clinician}` },
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    return { text, body: MessageStatusResponseSchema.parse(JSON.parse(text)) };
  };

  it('shows a bounce as its code and status, nothing of the remote server’s words', async () => {
    const { messageId, deliveryId } = await send();
    const r = await recordDeliveryReport(deliveryFor(t.deps).services, {
      deliveryId,
      action: 'failed',
      status: '5.1.1',
      diagnostic: `550 5.1.1 <${PATIENT}>: mailbox of Jordan Alvarez (sertraline refill) unknown`,
      receivedAt: new Date(),
    });
    expect(r).toMatchObject({ ok: true, outcome: 'failed' });
    const { text, body } = await status(messageId);
    expect(body.recipients[0]).toMatchObject({ status: 'failed', lastError: 'bounced 5.1.1' });
    // The recipient's own email field is the one place the address may appear.
    const withoutEmail = text.replace(`"email":"${PATIENT}"`, '');
    for (const leak of [PATIENT, 'patients.example', 'Jordan', 'Alvarez', 'sertraline', 'unknown', 'mailbox'])
      expect(withoutEmail).not.toContain(leak);
  });

  it('never returns a stored remote reply text with an address in it', async () => {
    const { messageId, deliveryId } = await send();
    // A relay's refusal as stored (transport.ts), its text quoting the recipient: what a remote
    // server says is not ours to vouch for, whatever was redacted on the way in.
    await t.store.db
      .updateTable('deliveries')
      .set({
        status: 'failed',
        last_error: `SMTP 550: 550 5.1.1 <${PATIENT}> recipient rejected: Jordan Alvarez has left the practice`,
      })
      .where('id', '=', deliveryId)
      .execute();
    const { text, body } = await status(messageId);
    expect(body.recipients[0]).toMatchObject({
      email: PATIENT,
      status: 'failed',
      lastError: 'relay_refused SMTP 550 5.1.1',
    });
    const withoutEmail = text.replace(`"email":"${PATIENT}"`, '');
    for (const leak of [PATIENT, 'patients.example', 'Jordan', 'Alvarez', 'rejected', 'practice'])
      expect(withoutEmail).not.toContain(leak);
  });
});
