import { describe, expect, it } from 'vitest';
import { isAutoReply } from './auto-reply.ts';

const msg = (...headers: string[]) =>
  Buffer.from([...headers, 'To: bounce+x@reply.clinic.test', '', 'Away until Monday.', ''].join('\r\n'));
const FROM = 'From: Jane Roe <jane.roe@example.com>';

describe('isAutoReply', () => {
  it('takes RFC 3834 Auto-Submitted: auto-replied, with parameters, in any case', () => {
    expect(isAutoReply(msg(FROM, 'Auto-Submitted: auto-replied'))).toBe(true);
    expect(isAutoReply(msg(FROM, 'auto-submitted: Auto-Replied; owner-email="jane@example.com"'))).toBe(true);
    expect(isAutoReply(msg(FROM, 'Auto-Submitted: no'))).toBe(false);
  });

  it('takes X-Autoreply, X-Autorespond and Precedence / X-Precedence: auto_reply', () => {
    expect(isAutoReply(msg(FROM, 'X-Autoreply: yes'))).toBe(true);
    expect(isAutoReply(msg(FROM, 'X-Autorespond: Vacation'))).toBe(true);
    expect(isAutoReply(msg(FROM, 'X-Autoreply: no'))).toBe(false);
    expect(isAutoReply(msg(FROM, 'Precedence: auto_reply'))).toBe(true);
    expect(isAutoReply(msg(FROM, 'X-Precedence: auto_reply'))).toBe(true);
  });

  it("takes Exchange's rules loop only with auto-generated: alone it marks forwards and redirects too", () => {
    const loop = 'X-MS-Exchange-Inbox-Rules-Loop: jane.roe@example.com';
    expect(isAutoReply(msg(FROM, 'Auto-Submitted: auto-generated', loop))).toBe(true);
    expect(isAutoReply(msg(FROM, loop))).toBe(false);
    expect(isAutoReply(msg(FROM, 'Auto-Submitted: auto-generated'))).toBe(false);
  });

  it('is not fooled by headers that ask for no auto-reply, list mail, or a body that says so', () => {
    expect(isAutoReply(msg(FROM, 'X-Auto-Response-Suppress: OOF, AutoReply'))).toBe(false);
    expect(isAutoReply(msg(FROM, 'Precedence: bulk'))).toBe(false);
    expect(isAutoReply(Buffer.from(`${FROM}\r\n\r\nAuto-Submitted: auto-replied\r\n`))).toBe(false);
  });

  it('never takes a bounce for an auto-reply, though sendmail and Exim mark theirs auto-replied', () => {
    expect(
      isAutoReply(
        msg('From: Mail Delivery System <Mailer-Daemon@mx.example.com>', 'Auto-Submitted: auto-replied'),
      ),
    ).toBe(false);
    expect(
      isAutoReply(
        msg('From: MAILER-DAEMON (Mail Delivery System)', 'Auto-Submitted: auto-replied (failure)'),
      ),
    ).toBe(false);
    expect(isAutoReply(msg('From: postmaster@mx.example.com', 'Auto-Submitted: auto-replied'))).toBe(false);
    expect(
      isAutoReply(msg(FROM, 'Auto-Submitted: auto-replied', 'X-Failed-Recipients: jane.roe@example.com')),
    ).toBe(false);
  });
});
