import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { describe, expect, it } from 'vitest';
import {
  composeAlternative,
  composeSimple,
  oneTimeCodeNotice,
  replyNotice,
  secureLinkNotice,
  SECURED_HEADER,
  type NoticeContent,
} from './mime.ts';

// composeSimple builds notices in one pass (composeAlternative) instead of through MailComposer:
// what a mail program reads from it must be what it reads from MailComposer's version.

const date = new Date('2026-03-14T10:00:00Z');
const url = 'https://attune.calm.example/m/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ_-0123456789';

function reference(opts: {
  from: { name: string; address: string };
  to: string;
  replyTo?: string;
  messageId: string;
  content: NoticeContent;
  headers?: Record<string, string>;
}): Promise<Buffer> {
  return new MailComposer({
    from: opts.from,
    to: opts.to,
    ...(opts.replyTo ? { replyTo: opts.replyTo } : {}),
    ...(opts.headers ? { headers: opts.headers } : {}),
    subject: opts.content.subject,
    text: opts.content.text,
    html: opts.content.html,
    messageId: opts.messageId,
    date,
  })
    .compile()
    .build();
}

const addr = (a: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(a) ? a : a ? [a] : []).flatMap((x) =>
    x.value.map((v) => ({ name: v.name, address: v.address })),
  );

function view(m: ParsedMail) {
  return {
    subject: m.subject,
    from: addr(m.from),
    to: addr(m.to),
    replyTo: addr(m.replyTo),
    messageId: m.messageId,
    date: m.date?.toISOString(),
    text: m.text?.replace(/\r\n/g, '\n').trimEnd(),
    html: typeof m.html === 'string' ? m.html.replace(/\r\n/g, '\n').trimEnd() : m.html,
    secured: m.headers.get(SECURED_HEADER.toLowerCase()),
    attachments: m.attachments.length,
  };
}

const cases: Array<[string, string, boolean]> = [
  ['an ASCII practice name', 'Calm Waters Counseling', false],
  ['a name with quotes and a backslash, code step on', 'The "Calm" \\ Waters Practice', true],
  [
    'a non-ASCII name long enough to fold',
    'Clínica Ñandú — Café de la Salud Mental y Bienestar Emocional Integral',
    true,
  ],
  ['a very long ASCII name', `Calm ${'Waters '.repeat(20)}Counseling`, false],
];

describe('composeSimple: notices composed in one pass', () => {
  for (const [label, practiceName, codeRequired] of cases) {
    it(`reads as MailComposer's version does: ${label}`, async () => {
      const opts = {
        from: { name: practiceName, address: 'notices@calm.example' },
        to: 'jordan.alvarez@patient.example',
        replyTo: 'reply+abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ_-0123456789@calm.example',
        messageId: '<0f4c2a1e-9b7d-4c33-8f1a-2b3c4d5e6f70@calm.example>',
        content: secureLinkNotice({
          practiceName,
          url,
          expiresAt: new Date(date.getTime() + 30 * 86_400_000).toISOString(),
          codeRequired,
          now: date,
        }),
        headers: { [SECURED_HEADER]: '7d1e8f0a-1234-4bcd-9ef0-112233445566' },
        date,
      };
      const fast = composeAlternative(opts);
      expect(fast).not.toBeNull();
      const ours = view(await simpleParser(fast!));
      expect(ours).toEqual(view(await simpleParser(await reference(opts))));
      expect(ours.text).toContain(url);
      // Every line within SMTP's limit, CRLF only.
      const raw = fast!.toString('latin1');
      expect(raw.split('\r\n').every((l) => l.length <= 78)).toBe(true);
      expect(raw.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    });
  }

  it('composes the code and reply notices the same way, without Reply-To', async () => {
    for (const content of [
      oneTimeCodeNotice({ practiceName: 'Calm Waters Counseling', code: '12345678', minutes: 10 }),
      replyNotice({ practiceName: 'Calm Waters Counseling', reference: 'r-1', urgent: true }),
    ]) {
      const opts = {
        from: { name: 'Calm Waters Counseling', address: 'notices@calm.example' },
        to: 'dr.lee@calm.example',
        messageId: '<otp-1@calm.example>',
        content,
        date,
      };
      const fast = composeAlternative(opts);
      expect(view(await simpleParser(fast!))).toEqual(view(await simpleParser(await reference(opts))));
    }
  });

  it('leaves unusual addresses and headers to MailComposer, and composeSimple still sends them', async () => {
    const content = replyNotice({ practiceName: 'Calm', reference: 'r-2', urgent: false });
    const base = {
      from: { name: 'Calm', address: 'notices@calm.example' },
      to: 'dr.lee@calm.example',
      messageId: '<x-1@calm.example>',
      content,
      date,
    };
    expect(composeAlternative({ ...base, to: 'josé@exämple.org' })).toBeNull();
    expect(composeAlternative({ ...base, to: 'a@b.example\r\nBcc: c@d.example' })).toBeNull();
    expect(composeAlternative({ ...base, headers: { 'X-Bad\r\nBcc': 'x' } })).toBeNull();
    expect(composeAlternative({ ...base, headers: { 'X-Ok': 'line\r\nBcc: c@d.example' } })).toBeNull();
    expect(composeAlternative({ ...base, messageId: '<a>b>' })).toBeNull();
    const mail = await composeSimple({ ...base, to: 'josé@exämple.org' });
    const parsed = await simpleParser(mail.raw);
    expect(parsed.subject).toBe(content.subject);
    expect(mail.to).toEqual(['josé@exämple.org']);
  });

  it('gives every message its own boundary', () => {
    const opts = {
      from: { name: 'Calm', address: 'notices@calm.example' },
      to: 'dr.lee@calm.example',
      messageId: '<x-2@calm.example>',
      content: replyNotice({ practiceName: 'Calm', reference: 'r', urgent: false }),
      date,
    };
    const boundary = (b: Buffer) => /boundary="([^"]+)"/.exec(b.toString())?.[1];
    expect(boundary(composeAlternative(opts)!)).not.toBe(boundary(composeAlternative(opts)!));
  });
});
