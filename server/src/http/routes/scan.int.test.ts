// Attachments' contents in the server's scans: POST /v1/scan (the Outlook send handler's question)
// and POST /v1/messages (the server's own scan of a secure send), on both dialects, with documents
// made in the test (attachments/testing.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanResponseSchema, SendMessageResponseSchema } from '@attune/shared/api';
import { closePdfThreads } from '../../attachments/index.ts';
import { makeDocx, makePdf } from '../../attachments/testing.ts';
import { AUDIT } from '../../audit/index.ts';
import { dialectsUnderTest } from '../../store/testing.ts';
import { createTestApp, type TestApp } from '../testing.ts';

const NOTE = [
  'Progress note',
  'Client: John Smith, DOB 02/11/1979',
  'Assessment: major depressive disorder, recurrent, moderate. Continue sertraline 100 mg.',
];
const FLYER = ['Spring wellness workshop', 'Saturday at the community center. All are welcome to join.'];
const b64 = (b: Buffer) => b.toString('base64');

afterAll(() => closePdfThreads());

describe.each(dialectsUnderTest())('attachment contents in the server scans on %s', (dialect) => {
  let t: TestApp;
  let tok: string;
  const post = (path: string, body: unknown) =>
    t.app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    t = await createTestApp(dialect);
    tok = await t.token('dr.a@a.example.org');
    const res = await post('/v1/patients', { email: 'pat.one@patients.example' });
    expect(res.status).toBe(201);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('POST /v1/scan: PHI in a DOCX body makes a clean draft to an outside address "encrypt", naming the attachment by position', async () => {
    const res = await post('/v1/scan', {
      to: ['billing@vendor.example'],
      subject: 'Paperwork',
      text: 'See attached.',
      attachments: [
        { filename: 'flyer.pdf', contentType: 'application/pdf', contentBase64: b64(makePdf([FLYER])) },
        {
          filename: 'John_Smith_note.docx',
          contentType: 'application/octet-stream',
          contentBase64: b64(makeDocx(NOTE)),
        },
      ],
    });
    expect(res.status).toBe(200);
    const body = ScanResponseSchema.parse(await res.json());
    expect(body.decision).toBe('encrypt');
    expect(body.phi).toBe(true);
    expect(body.reasons).toContain('PHI found in the contents of attachment 2 (Office document).');
    expect(body.fields.find((f) => f.field === 'attachment:1')?.types).toEqual(
      expect.arrayContaining(['NAME', 'DIAGNOSIS']),
    );
    expect(body.attachments).toEqual([
      { kind: 'pdf', read: 'full' },
      { kind: 'office', read: 'full' },
    ]);
    // No file name in the reasons (it may name the patient).
    expect(JSON.stringify(body.reasons)).not.toContain('John_Smith');
  });

  it('POST /v1/scan: a clean PDF is "allow"; a password-protected one is unreadable, and "encrypt" to a known patient', async () => {
    const clean = ScanResponseSchema.parse(
      await (
        await post('/v1/scan', {
          to: ['billing@vendor.example'],
          text: 'Flyer attached.',
          attachments: [
            { filename: 'flyer.pdf', contentType: 'application/pdf', contentBase64: b64(makePdf([FLYER])) },
          ],
        })
      ).json(),
    );
    expect(clean.decision).toBe('allow');
    const locked = {
      filename: 'form.pdf',
      contentType: 'application/pdf',
      contentBase64: b64(makePdf([NOTE], { encrypted: true })),
    };
    const outside = ScanResponseSchema.parse(
      await (
        await post('/v1/scan', { to: ['billing@vendor.example'], text: 'Form.', attachments: [locked] })
      ).json(),
    );
    expect(outside.decision).toBe('allow');
    expect(outside.attachments).toEqual([{ kind: 'pdf', read: 'none', reason: 'encrypted' }]);
    expect(outside.reasons).toContain(
      'The contents of attachment 1 (PDF) could not be read: it is password-protected; only its name was scanned.',
    );
    const patient = ScanResponseSchema.parse(
      await (
        await post('/v1/scan', { to: ['pat.one@patients.example'], text: 'Form.', attachments: [locked] })
      ).json(),
    );
    expect(patient.decision).toBe('encrypt');
  });

  it('POST /v1/scan: 413 for an attachment over 25 MB, 400 for a bad body, and an audit event with counts only', async () => {
    const big = Buffer.alloc(25 * 1024 * 1024 + 1, 0x41);
    const tooBig = await post('/v1/scan', {
      to: ['billing@vendor.example'],
      attachments: [{ filename: 'big.txt', contentType: 'text/plain', contentBase64: b64(big) }],
    });
    expect(tooBig.status).toBe(413);
    expect(((await tooBig.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    const bad = await post('/v1/scan', { to: ['billing@vendor.example'], attachments: [] });
    expect(bad.status).toBe(400);

    const res = await post('/v1/scan', {
      to: ['billing@vendor.example'],
      attachments: [
        {
          filename: 'John_Smith_note.docx',
          contentType: 'application/octet-stream',
          contentBase64: b64(makeDocx(NOTE)),
        },
      ],
    });
    const rows = await t.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('request_id', '=', res.headers.get('x-request-id') ?? '')
      .execute();
    expect(rows.map((r) => r.action)).toEqual([AUDIT.PHI_SCAN]);
    expect(JSON.parse(rows[0]!.details ?? '{}')).toEqual({
      attachments: 1,
      unreadable: 0,
      decision: 'encrypt',
    });
    expect(JSON.stringify(rows)).not.toMatch(/John|Smith|depress/i);
  });

  it('POST /v1/messages: the reasons say which attachment held the PHI found in its contents', async () => {
    const res = await post('/v1/messages', {
      to: ['billing@vendor.example'],
      subject: 'Paperwork',
      text: 'See attached.',
      attachments: [
        { filename: 'scan.pdf', contentType: 'application/pdf', contentBase64: b64(makePdf([NOTE])) },
      ],
    });
    expect(res.status).toBe(202);
    const body = SendMessageResponseSchema.parse(await res.json());
    expect(body.decision).toBe('encrypt');
    expect(body.reasons).toContain('PHI found in the contents of attachment 1 (PDF).');
  });
});
