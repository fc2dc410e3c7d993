import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scan } from '@attune/shared/phi';
import { copyRef, parseCopyRef } from './gateway-mail.ts';
import { draftNotice, oneTimeCodeNotice, relayFailureNotice, replyNotice, secureLinkNotice } from './mime.ts';
import { backoffMs } from './outbox.ts';
import { nextLocalHour } from './schedule.ts';
import { hashOneTimeCode, hashToken, looksLikeToken, newLinkToken, newOneTimeCode } from './tokens.ts';
import { classifySmtpError, fileTransport, redactAddresses } from './transport.ts';

describe('link tokens and codes', () => {
  it('makes 256-bit URL-safe tokens whose stored hash is not the token', () => {
    const a = newLinkToken();
    const b = newLinkToken();
    expect(a.token).not.toBe(b.token);
    expect(Buffer.from(a.token, 'base64url')).toHaveLength(32);
    expect(looksLikeToken(a.token)).toBe(true);
    expect(a.sha256).toBe(hashToken(a.token));
    expect(a.sha256).not.toContain(a.token);
    expect(looksLikeToken('short')).toBe(false);
    expect(looksLikeToken(`${a.token}/x`)).toBe(false);
  });

  it('makes 8-digit codes and hashes them bound to key and link', () => {
    const code = newOneTimeCode();
    expect(code).toMatch(/^\d{8}$/);
    const k = Buffer.alloc(32, 1);
    expect(hashOneTimeCode(k, 'link-1', code)).not.toBe(hashOneTimeCode(k, 'link-2', code));
    expect(hashOneTimeCode(k, 'link-1', code)).not.toBe(hashOneTimeCode(Buffer.alloc(32, 2), 'link-1', code));
  });
});

describe('notices', () => {
  const url = 'https://attune.calm.example/m/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ';

  it('the secure-link notice carries the practice name and link and nothing the detector calls PHI', () => {
    const n = secureLinkNotice({
      practiceName: 'Calm Waters Counseling',
      url,
      expiresAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      codeRequired: true,
    });
    expect(n.subject).toBe('You have a secure message from Calm Waters Counseling');
    expect(n.text).toContain(url);
    expect(n.text).toContain('30 days');
    expect(n.text).toContain('one-time code');
    for (const part of [n.subject, n.text]) {
      const found = scan(part, { allowList: ['Calm Waters Counseling'] }).filter((f) => f.type !== 'URL');
      expect(found.map((f) => `${f.type}:${f.text}`)).toEqual([]);
    }
  });

  it('escapes a practice name in HTML and keeps header-breaking characters out of the subject', () => {
    const n = secureLinkNotice({
      practiceName: 'A & B <Clinic>\r\nBcc: x@y',
      url,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      codeRequired: false,
    });
    expect(n.subject).not.toMatch(/[\r\n]/);
    expect(n.html).toContain('A &#38; B &#60;Clinic&#62;');
    expect(n.html).not.toContain('<Clinic>');
  });

  it('the draft notice, code email and clinician notice hold no token, code context or PHI', () => {
    expect(draftNotice({ practiceName: 'Calm', methods: ['link'] }).text).not.toContain('/m/');
    expect(draftNotice({ practiceName: 'Calm', methods: ['pgp', 'link'] }).text).toMatch(
      /encrypted email or/,
    );
    expect(oneTimeCodeNotice({ practiceName: 'Calm', code: '12345678', minutes: 10 }).text).toContain(
      '12345678',
    );
    const urgent = replyNotice({ practiceName: 'Calm', reference: 'r-1', urgent: true });
    expect(urgent.subject).toMatch(/^\[Urgent\]/);
    expect(urgent.text).not.toMatch(/suicid|kill|harm/i);
  });
});

describe('relayed copies and their failure notice', () => {
  const ref = 'a'.repeat(32);

  it('names the relayed message and the sender on each copy; a copy queued before that is its own message', () => {
    expect(parseCopyRef('copy-1', copyRef(ref, 'dr.lee@clinic.test'))).toEqual({
      relayed: ref,
      notify: 'dr.lee@clinic.test',
    });
    // Rows written by the version that told each copy alone: payload_ref was the sender only.
    expect(parseCopyRef('copy-1', 'dr.lee@clinic.test')).toEqual({
      relayed: 'copy-1',
      notify: 'dr.lee@clinic.test',
    });
    expect(parseCopyRef('copy-1', null)).toBeNull();
    expect(() => copyRef('not hex', 'dr.lee@clinic.test')).toThrow();
  });

  it('counts the failed recipients, names none, and holds nothing the detector calls PHI', () => {
    for (const [failed, says] of [
      [1, 'failed for one of them after retries. It will not be tried again for that recipient.'],
      [3, 'failed for 3 of them after retries. It will not be tried again for them.'],
    ] as const) {
      const n = relayFailureNotice({ practiceName: 'Lakeside Counseling', reference: ref, failed });
      expect(n.text).toContain(says);
      expect(n.text).toContain(`Reference: ${ref}`);
      const text = n.text.replace(/^Reference: .*$/m, '');
      expect(scan(`${n.subject}\n${text}`, { allowList: ['Lakeside Counseling'] })).toEqual([]);
    }
  });
});

describe('backoff', () => {
  it('grows exponentially with jitter between half and all of the step, capped', () => {
    expect(backoffMs(1, 1000, 60_000, () => 0)).toBe(500);
    expect(backoffMs(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(backoffMs(4, 1000, 60_000, () => 1)).toBe(8000);
    expect(backoffMs(30, 1000, 60_000, () => 1)).toBe(60_000);
    expect(backoffMs(30, 1000, 60_000, () => 0)).toBe(30_000);
  });
});

describe('nextLocalHour', () => {
  it('finds the next 09:00 in the patient’s zone, across a DST change', () => {
    // 2026-03-08 is the US spring-forward day; from 2026-03-07 20:00 EST the next 09:00 is EDT (UTC-4).
    const from = Date.parse('2026-03-08T01:00:00Z');
    expect(new Date(nextLocalHour(from, 'America/New_York', 9)).toISOString()).toBe(
      '2026-03-08T13:00:00.000Z',
    );
    const later = Date.parse('2026-01-10T15:00:00Z'); // 10:00 EST: 09:00 has passed today
    expect(new Date(nextLocalHour(later, 'America/New_York', 9)).toISOString()).toBe(
      '2026-01-11T14:00:00.000Z',
    );
    expect(new Date(nextLocalHour(Date.parse('2026-01-10T08:30:00Z'), 'UTC', 9)).toISOString()).toBe(
      '2026-01-10T09:00:00.000Z',
    );
  });
});

describe('transports', () => {
  it('writes one .eml per Message-ID, a retry replacing its own file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mail-'));
    try {
      const t = fileTransport(dir);
      const mail = {
        raw: Buffer.from('Subject: hi\r\n\r\nbody\r\n'),
        from: 'a@calm.example',
        to: ['b@x.example'],
        messageId: '<one@calm.example>',
      };
      expect((await t.send(mail, 'notice')).ok).toBe(true);
      expect((await t.send(mail, 'notice')).ok).toBe(true);
      expect((await t.send({ ...mail, messageId: '<two@calm.example>' }, 'notice')).ok).toBe(true);
      const files = readdirSync(dir).sort();
      expect(files).toHaveLength(2);
      expect(files.every((f) => /^notice-[0-9a-f]{16}\.eml$/.test(f))).toBe(true);
      expect(readFileSync(join(dir, files[0]!), 'utf8')).toContain('Subject: hi');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('classifies SMTP errors: 5xx permanent, 4xx and connection faults retried, addresses redacted', () => {
    expect(classifySmtpError({ responseCode: 550, response: '550 5.1.1 <pat@x.example> unknown' })).toEqual({
      ok: false,
      permanent: true,
      error: 'SMTP 550: 550 5.1.1 <address> unknown',
    });
    expect(classifySmtpError({ responseCode: 451, response: '451 try later' }).permanent).toBe(false);
    expect(classifySmtpError({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }).permanent).toBe(
      false,
    );
    expect(classifySmtpError({ code: 'EPROTOCOL', command: 'STARTTLS', responseCode: 500 }).permanent).toBe(
      false,
    );
    expect(redactAddresses('to a.b+c@d.example failed')).toBe('to <address> failed');
  });
});
