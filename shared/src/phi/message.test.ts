import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { attachmentFieldText, recipientFieldText, scanMessage, signatureRange } from './message.ts';
import type { Finding, MessageInput, MessageScan } from './types.ts';

function field(s: MessageScan, name: string): Finding[] {
  return s.fields.find((f) => f.field === name)?.findings ?? [];
}

function expectWellFormed(findings: Finding[], source: string): void {
  let prevEnd = 0;
  for (const f of findings) {
    expect(f.start).toBeGreaterThanOrEqual(prevEnd);
    expect(f.end).toBeGreaterThan(f.start);
    expect(f.end).toBeLessThanOrEqual(source.length);
    expect(source.slice(f.start, f.end)).toBe(f.text);
    prevEnd = f.end;
  }
}

describe('scanMessage', () => {
  it('reports subject findings with offsets into the subject', () => {
    const subject = 'Follow-up for Jane Roe: depression and sertraline';
    const s = scanMessage({ subject });
    const found = field(s, 'subject');
    expectWellFormed(found, subject);
    expect(found.map((f) => f.type)).toEqual(expect.arrayContaining(['NAME', 'DIAGNOSIS', 'MEDICATION']));
    expect(found.find((f) => f.type === 'NAME')?.text).toContain('Roe');
    expect(s.hasIdentifier && s.hasHealth).toBe(true);
  });

  it('scans an HTML body as text and reports offsets into the original HTML', () => {
    const html =
      '<html><head><style>.x{}</style></head><body><div>Dear Mr.&nbsp;<b>Roe</b>,</div>' +
      '<p>We discussed your PTSD and the next EMDR session. Call 617-555-0143.</p></body></html>';
    const s = scanMessage({ html });
    const found = field(s, 'body');
    expectWellFormed(found, html);
    const types = found.map((f) => f.type);
    expect(types).toEqual(expect.arrayContaining(['DIAGNOSIS', 'PHONE']));
    expect(found.find((f) => f.type === 'PHONE')?.text).toBe('617-555-0143');
    expect(found.find((f) => f.type === 'DIAGNOSIS')?.text).toBe('PTSD');
  });

  it('decodes entities before scanning, so an encoded health term is found and slices to its HTML', () => {
    const html = '<p>Diagnosis: major&#32;depressive disorder, seen on 03/14/2024</p>';
    const found = field(scanMessage({ html }), 'body');
    expectWellFormed(found, html);
    expect(found.some((f) => f.type === 'DIAGNOSIS' && f.text.includes('&#32;'))).toBe(true);
  });

  it('does not scan script, style or comments in an HTML body', () => {
    const html =
      '<script>var n = "Jane Roe has schizophrenia";</script><style>/* PTSD */</style><!-- bipolar --><p>See you soon.</p>';
    expect(field(scanMessage({ html }), 'body')).toEqual([]);
  });

  it('prefers the HTML body when both html and body are given', () => {
    const s = scanMessage({ body: 'plain PTSD', html: '<p>html PTSD</p>' });
    const f = field(s, 'body');
    expect(f[0]?.start).toBe('<p>html '.length);
  });

  it('finds a name in a recipient display name and in an address, but never reports the address itself', () => {
    const to = ['"Jane Roe" <jroe@gmail.com>', 'mary.smith@example.org'];
    const s = scanMessage({ to });
    const found = field(s, 'to');
    const fieldText = recipientFieldText(to);
    expectWellFormed(found, fieldText);
    expect(found.some((f) => f.type === 'NAME' && f.text.includes('Jane Roe'))).toBe(true);
    expect(found.some((f) => f.type === 'NAME' && /smith/i.test(f.text))).toBe(true);
    expect(found.some((f) => f.type === 'EMAIL' || f.type === 'URL')).toBe(false);
  });

  it('reports nothing for a role address such as a mailing list', () => {
    expect(
      scanMessage({ to: ['newsletter@sunrise-therapy.org'], cc: ['info@sunrise-therapy.org'] }).fields,
    ).toEqual([]);
  });

  it('scans attachment names and text as attachment:<i> fields', () => {
    const attachments = [
      { name: 'agenda.pdf' },
      { name: 'Jane_Roe_intake.txt', text: 'Presenting problem: panic disorder. Started sertraline.' },
    ];
    const s = scanMessage({ attachments });
    expect(field(s, 'attachment:0')).toEqual([]);
    const found = field(s, 'attachment:1');
    expectWellFormed(found, attachmentFieldText(attachments[1]!));
    expect(found.map((f) => f.type)).toEqual(expect.arrayContaining(['NAME', 'DIAGNOSIS', 'MEDICATION']));
  });

  it('drops findings in the signature block when asked, and keeps the message above it', () => {
    const body =
      'Hi,\n\nThe PTSD group moves to Thursday.\n\nBest regards,\nDr. Alice Morgan, LCSW\nSunrise Therapy\n617-555-0143\n';
    const kept = scanMessage({ body }, { exemptSignature: false });
    const exempt = scanMessage({ body }, { exemptSignature: true });
    expect(field(kept, 'body').some((f) => f.type === 'PHONE')).toBe(true);
    expect(field(exempt, 'body').some((f) => f.type === 'PHONE' || f.type === 'NAME')).toBe(false);
    expect(field(exempt, 'body').some((f) => f.type === 'DIAGNOSIS')).toBe(true);
  });

  it('does not exempt a "signature" holding what no signature holds: a medication, a code, a patient number', () => {
    // A line added under the sign-off, and a note typed below "-- ": message text, all of it scanned.
    const added =
      'Hi,\nSee you Thursday.\n\nTake care,\nDr. Lee\nReminder for Jane Roe: lithium 600 mg nightly, bipolar disorder follow-up labs';
    const typed = 'Thanks.\n\n-- \nJohn Smith, major depression, MRN 48213377, see F33.1';
    for (const body of [added, typed]) {
      const types = field(scanMessage({ body }, { exemptSignature: true }), 'body').map((f) => f.type);
      expect(types).toEqual(expect.arrayContaining(['NAME', 'DIAGNOSIS']));
    }
    // A real signature naming the practice's specialty is still exempt.
    const signature =
      'Hi,\nThe group moves to Thursday.\n\nBest regards,\nDr. Alice Morgan, PsyD, LCSW\nCenter for Anxiety & Depression\nEMDR and trauma therapy\n617-555-0143\n';
    expect(field(scanMessage({ body: signature }, { exemptSignature: true }), 'body')).toEqual([]);
  });

  it('still scans a quoted reply below the signature', () => {
    const body =
      'Thanks for letting me know.\n\n-- \nAlice Morgan, LCSW\n\nOn Mon, Mar 3, 2025 at 9:00 AM Jane Roe <jroe@gmail.com> wrote:\n> My depression is worse since I stopped the sertraline.\n';
    const s = scanMessage({ body }, { exemptSignature: true });
    const types = field(s, 'body').map((f) => f.type);
    expect(types).toEqual(expect.arrayContaining(['DIAGNOSIS', 'MEDICATION']));
  });

  it('drops findings in a signature the mail client marked in HTML, but not in the quoted reply below it', () => {
    const html =
      '<div>Hi, the PTSD group moves to Thursday.</div>' +
      '<div class="gmail_signature" data-smartmail="gmail_signature"><div>Dr. Alice Morgan, LCSW</div><div>617-555-0143</div></div>' +
      '<div class="gmail_quote"><div>Jane Roe wrote:</div><blockquote>I stopped the sertraline, call me at 413-555-0199</blockquote></div>';
    const exempt = field(scanMessage({ html }, { exemptSignature: true }), 'body');
    const kept = field(scanMessage({ html }, { exemptSignature: false }), 'body');
    expectWellFormed(exempt, html);
    expect(kept.some((f) => f.text === '617-555-0143')).toBe(true);
    expect(exempt.some((f) => f.text === '617-555-0143')).toBe(false);
    expect(exempt.some((f) => f.text === '413-555-0199')).toBe(true);
    expect(exempt.some((f) => f.type === 'MEDICATION')).toBe(true);
  });

  it('recognises the Outlook signature element', () => {
    const html =
      '<p>Your PTSD workbook is attached.</p><div id="Signature"><p>Alice Morgan</p><p>(413) 555-0100</p></div>';
    const exempt = field(scanMessage({ html }, { exemptSignature: true }), 'body');
    expect(exempt.some((f) => f.type === 'PHONE' || f.type === 'NAME')).toBe(false);
    expect(exempt.some((f) => f.type === 'DIAGNOSIS')).toBe(true);
  });

  it('works with an empty or missing message', () => {
    expect(scanMessage({})).toEqual({
      fields: [],
      types: [],
      hasIdentifier: false,
      hasHealth: false,
      hasCrisis: false,
    });
    expect(scanMessage(null as unknown as MessageInput).fields).toEqual([]);
  });

  it('never throws, and every finding slices its field, on arbitrary input', () => {
    const htmlish = fc
      .array(
        fc.oneof(
          fc.string({ unit: 'grapheme' }),
          fc.string({ unit: 'binary' }),
          fc.constantFrom(
            '<p>',
            '</p>',
            '<br>',
            '<b>',
            '</b>',
            '&amp;',
            '&nbsp;',
            '&eacute;',
            '&#x1F600;',
            '&#55357;',
            'Jane Roe',
            ' depression ',
            ' sertraline 50 mg ',
            '617-555-0143',
            '<script>x</script>',
            '-- \n',
            'Best,\n',
            ' 03/14/2024 ',
            '<td>',
            ' PTSD ',
            '\n',
            '&',
          ),
        ),
        { maxLength: 30 },
      )
      .map((p) => p.join(''));
    const text = fc.oneof(htmlish, fc.string({ unit: 'binary', maxLength: 200 }));
    const message = fc.record(
      {
        subject: text,
        body: text,
        html: htmlish,
        to: fc.array(fc.oneof(text, fc.emailAddress()), { maxLength: 4 }),
        cc: fc.array(text, { maxLength: 2 }),
        attachments: fc.array(fc.record({ name: text, text: fc.option(text, { nil: undefined }) }), {
          maxLength: 2,
        }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(message, fc.boolean(), (m, exemptSignature) => {
        const s = scanMessage(m, { exemptSignature });
        for (const f of s.fields) {
          const source =
            f.field === 'subject'
              ? m.subject!
              : f.field === 'body'
                ? m.html
                  ? m.html
                  : m.body!
                : f.field === 'to'
                  ? recipientFieldText(m.to!)
                  : f.field === 'cc'
                    ? recipientFieldText(m.cc!)
                    : attachmentFieldText(m.attachments![Number(f.field.slice('attachment:'.length))]!);
          expectWellFormed(f.findings, source);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on values that are not messages at all', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        scanMessage(v as MessageInput);
        scanMessage({
          subject: v,
          body: v,
          html: v,
          to: v,
          cc: v,
          attachments: v,
        } as unknown as MessageInput);
      }),
      { numRuns: 300 },
    );
  });
});

describe('signatureRange', () => {
  it('finds an RFC 3676 "-- " separator and ends the block at a quoted reply', () => {
    const text = 'See you then.\n-- \nAlice\n617-555-0143\nOn Mon, Jane wrote:\n> hi\n';
    const r = signatureRange(text)!;
    expect(text.slice(r.start, r.end)).toBe('-- \nAlice\n617-555-0143\n');
  });

  it('finds a sign-off near the end', () => {
    const text = 'Hello,\nThe group meets Thursday.\n\nWarmly,\nAlice Morgan\nSunrise Therapy';
    const r = signatureRange(text)!;
    expect(text.slice(r.start)).toBe('Warmly,\nAlice Morgan\nSunrise Therapy');
  });

  it('does not treat an opening "Thanks," or a sign-off followed by long prose as a signature', () => {
    expect(signatureRange('Thanks,\nJane has been struggling with depression since March.')).toBeNull();
    expect(
      signatureRange(
        'Hi,\nok.\nThanks,\nI also want to say that the new medication seems to be helping a lot with my sleep and my mood overall.\n',
      ),
    ).toBeNull();
  });

  it('ends the block at a P.S., which is message text again', () => {
    const text = 'Hi.\nBest,\nAlice\nP.S. Jane, remember your sertraline.';
    const r = signatureRange(text)!;
    expect(text.slice(r.start, r.end)).toBe('Best,\nAlice\n');
  });
});
