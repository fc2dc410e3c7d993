import { describe, expect, it } from 'vitest';
import { deliveryError } from './admin.ts';

// The stored last_error as admins see it: a code with the SMTP reply and enhanced status, never the
// text, which can quote a remote server (and through it an address or words of the message).
describe('deliveryError', () => {
  it.each([
    [
      'SMTP 550: 550 5.1.1 <address> User unknown: Jordan Alvarez',
      { code: 'relay_refused', smtpCode: 550, enhancedStatus: '5.1.1' },
    ],
    [
      'SMTP 451: 451 4.7.1 Try again later',
      { code: 'relay_deferred', smtpCode: 451, enhancedStatus: '4.7.1' },
    ],
    [
      '1 of 2 recipients rejected: 550 5.7.1 denied',
      { code: 'relay_refused', smtpCode: 550, enhancedStatus: '5.7.1' },
    ],
    ['ECONNECTION: connect ECONNREFUSED 4.2.2.1:465', { code: 'relay_unreachable' }],
    [
      'the relay refused the session at MAIL FROM: SMTP 550: relaying denied',
      { code: 'relay_session_refused', smtpCode: 550 },
    ],
    ['the relay refused AUTH: 535 bad credentials', { code: 'relay_session_refused', smtpCode: 535 }],
    ['the relay did not accept STARTTLS, which is required: no TLS', { code: 'relay_tls_required' }],
    [
      "the recipient's mail server returned it: 5.2.2 mailbox full for <address>",
      { code: 'bounced', enhancedStatus: '5.2.2' },
    ],
    [
      "delayed by the recipient's mail server: 4.4.1 no answer",
      { code: 'remote_delayed', enhancedStatus: '4.4.1' },
    ],
    [
      'gave up after 8 attempts: SMTP 451: 451 4.3.0 busy',
      { code: 'attempts_exhausted', cause: 'relay_deferred', smtpCode: 451, enhancedStatus: '4.3.0' },
    ],
    [
      'gave up after 8 attempts (internal error (Error))',
      { code: 'attempts_exhausted', cause: 'internal_error' },
    ],
    [
      "patient key unusable: expired; the practice's policy does not allow a secure link instead",
      { code: 'patient_key_unusable' },
    ],
    ['stored content failed its integrity check (content_mac_mismatch)', { code: 'content_unreadable' }],
    ['link token missing', { code: 'link_token_missing' }],
    ['file transport: EACCES', { code: 'mail_folder_error' }],
    ['Sertraline for Jordan Alvarez is ready', { code: 'other' }],
  ])('reads %j as a code', (stored, want) => {
    expect(deliveryError(stored)).toEqual(want);
  });

  it('is null when there is no error', () => {
    expect(deliveryError(null)).toBeNull();
  });
});
