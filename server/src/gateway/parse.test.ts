import fc from 'fast-check';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { describe, expect, it } from 'vitest';
import { fromParsed, parse, parseFully, plainAddsWords, plainIsHtmlText, scanInput } from './extract.ts';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { fastParse, fieldAddresses } from './fast-parse.ts';

// The fast path must read exactly what mailparser reads, or decline. Checked on generated mail
// (nodemailer's composer, every transfer encoding, Unicode, long lines, '=' signs) and on the
// shapes it must leave to mailparser.

const norm = (s: string | undefined | null): string | null =>
  s == null ? null : s.replace(/\r\n/g, '\n').replace(/\s+$/, '');

async function compose(opts: Record<string, unknown>): Promise<Buffer> {
  return new MailComposer(opts).compile().build();
}

describe('fast MIME path', () => {
  it('agrees with mailparser on generated text and HTML mail in every transfer encoding', async () => {
    const body = fc.string({ unit: 'grapheme', maxLength: 400 });
    let taken = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          subject: fc.string({
            unit: fc.constantFrom(...'abcdefghij XYZ-:;,.0123456789'.split('')),
            maxLength: 60,
          }),
          text: fc.option(body, { nil: undefined }),
          html: fc.option(
            body.map((b) => `<p>${b}</p>`),
            { nil: undefined },
          ),
          encoding: fc.constantFrom('quoted-printable', 'base64', undefined),
          cc: fc.boolean(),
          long: fc.boolean(),
        }),
        async (m) => {
          const text =
            m.text !== undefined && m.long ? m.text + ' word'.repeat(60) + '=' + 'x'.repeat(120) : m.text;
          const raw = await compose({
            from: 'Dr Lee <dr.lee@clinic.test>',
            to: 'jane@example.com',
            ...(m.cc ? { cc: 'Front Desk <desk@clinic.test>, other@example.org' } : {}),
            subject: m.subject,
            ...(text !== undefined ? { text } : {}),
            ...(m.html !== undefined ? { html: m.html } : {}),
            ...(text === undefined && m.html === undefined ? { text: '' } : {}),
            ...(m.encoding ? { textEncoding: m.encoding } : {}),
          });
          const fast = fastParse(raw);
          const slow = fromParsed(await parseFully(raw));
          if (fast === null) return; // declining is always allowed
          taken++;
          expect(norm(fast.text) ?? '').toBe(norm(slow.text) ?? '');
          expect(norm(fast.html)).toBe(norm(slow.html));
          expect(fast.subject).toBe(slow.subject.trim());
          expect(fast.from).toEqual(slow.from);
          expect(fast.cc).toEqual(slow.cc);
        },
      ),
      { numRuns: 300 },
    );
    // Most of these are simple enough for the fast path; if it declined them all, nothing was compared.
    expect(taken).toBeGreaterThan(150);
  });

  it('takes the fast path for ordinary composed mail (so the benchmark measures it)', async () => {
    const raw = await compose({
      from: 'a@clinic.test',
      to: 'b@example.com',
      subject: 'Hi',
      text: 'Hello — café',
      html: '<p>Hello — café</p>',
    });
    const fast = fastParse(raw);
    expect(fast).not.toBeNull();
    expect(fast!.text?.trim()).toBe('Hello — café');
  });

  it('leaves attachments, encoded-word subjects, nested parts and unknown charsets to mailparser', async () => {
    const withAttachment = await compose({
      from: 'a@clinic.test',
      to: 'b@example.com',
      subject: 'x',
      text: 'see file',
      attachments: [{ filename: 'notes.txt', content: 'Dx: F32.1' }],
    });
    expect(fastParse(withAttachment)).toBeNull();
    const full = await parse(withAttachment);
    expect(full.attachments.map((a) => a.filename)).toEqual(['notes.txt']);

    const encodedSubject = await compose({
      from: 'a@clinic.test',
      to: 'b@example.com',
      subject: 'Résumé of the plan',
      text: 'x',
    });
    expect(fastParse(encodedSubject)).toBeNull();
    expect((await parse(encodedSubject)).subject).toBe('Résumé of the plan');

    const koi8 = Buffer.from(
      'From: a@clinic.test\r\nSubject: x\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9\r\n',
      'latin1',
    );
    expect(fastParse(koi8)).toBeNull();

    const nested = Buffer.from(
      'From: a@clinic.test\r\nContent-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary="i"\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\nhi\r\n--i--\r\n--o--\r\n',
    );
    expect(fastParse(nested)).toBeNull();
    expect((await parse(nested)).text?.trim()).toBe('hi');

    const unterminated = Buffer.from(
      'From: a@clinic.test\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n',
    );
    expect(fastParse(unterminated)).toBeNull();
  });

  it('never throws on arbitrary bytes or mangled MIME (declines or parses)', async () => {
    const mime = fc.constantFrom(
      'Content-Type: multipart/alternative; boundary="b"\r\n',
      'Content-Type: text/plain; charset=utf-8\r\n',
      'Content-Transfer-Encoding: base64\r\n',
      'Content-Transfer-Encoding: quoted-printable\r\n',
      '--b\r\n',
      '--b--\r\n',
      '=?utf-8?B?',
      '\r\n',
      '=\r\n',
      'From: <a@b.c>\r\n',
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(mime, fc.string({ maxLength: 40 })), { maxLength: 30 }),
        fc.uint8Array({ maxLength: 200 }),
        async (pieces, noise) => {
          const raw = Buffer.concat([Buffer.from(pieces.join('')), Buffer.from(noise)]);
          expect(() => fastParse(raw)).not.toThrow();
          const view = await parse(raw);
          expect(typeof view.subject).toBe('string');
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the plain part of multipart/alternative', () => {
  const WORDS = [
    'Jane',
    'jane',
    'Roe',
    'AT',
    'T',
    'sertraline',
    'café',
    '100',
    'mg',
    '-',
    '.',
    ',',
    '&',
    '<',
    '"',
  ];
  const word = fc.constantFrom(...WORDS);
  const sep = fc.constantFrom(' ', '\r\n', '\r\n\r\n', '\t', '  ');
  const htmlSep = fc.constantFrom(
    ' ',
    '\n',
    '<p>',
    '</p><p>',
    '<br>',
    '&nbsp;',
    '<b>',
    '</b>',
    '<!-- x -->',
    '',
  );
  const esc = (w: string): string => w.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

  it('is read as the HTML text only when no word of it is missing from the HTML', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(word, sep, htmlSep), { minLength: 1, maxLength: 30 }),
        fc.constantFrom('none', 'case', 'insert', 'drop', 'glue'),
        fc.nat(),
        (parts, mutation, at) => {
          const text = parts.map(([w, s]) => w + s).join('');
          let htmlParts = parts.map(([w, , h]) => esc(w) + (h === '' ? ' ' : h));
          const k = at % htmlParts.length;
          if (mutation === 'case') htmlParts[k] = htmlParts[k]!.toUpperCase();
          if (mutation === 'insert') htmlParts.splice(k, 0, 'Smith ');
          if (mutation === 'drop') htmlParts = htmlParts.filter((_, i) => i !== k);
          if (mutation === 'glue') htmlParts[k] = htmlParts[k]!.replace(/ $/, '');
          const html = `<html><body>${htmlParts.join('')}</body></html>`;
          // The fast answer may only ever say "same" where the word check finds nothing added.
          if (plainIsHtmlText(text, html)) expect(plainAddsWords(text, html)).toBe(false);
          if (mutation === 'none') expect(plainIsHtmlText(text, html)).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('is scanned when it says something its HTML twin does not', () => {
    const html = '<p>Supply order:</p><p>two boxes of paper &amp; toner.</p>';
    const same = 'Supply order:\r\n\r\ntwo boxes of paper & toner.\r\n';
    const more = 'Supply order:\r\n\r\ntwo boxes of paper & toner for Jane Roe.\r\n';
    expect(plainIsHtmlText(same, html)).toBe(true);
    expect(plainIsHtmlText(more, html)).toBe(false);
    const view = (text: string) => ({ subject: 's', text, html, from: [], cc: [], attachments: [] });
    expect(scanInput(view(same), []).attachments).toEqual([]);
    expect(scanInput(view(more), []).attachments).toEqual([{ name: 'text part', text: more }]);
    // Words split differently, or a letter written as a reference, are not "the same text".
    expect(plainIsHtmlText('paper toner', '<p>paper</p>toner')).toBe(true);
    expect(plainIsHtmlText('papertoner', '<p>paper</p>toner')).toBe(false);
    expect(plainIsHtmlText('café', 'caf&eacute;')).toBe(false);
    expect(plainIsHtmlText('a', '<p a')).toBe(false);
  });
});

describe('address fields', () => {
  it('reads the simple shapes exactly as addressparser does, and leaves the rest to it', () => {
    const slow = (v: string): string[] =>
      addressparser(v, { flatten: true })
        .filter((a) => a.address)
        .map((a) => a.address.toLowerCase());
    const name = fc.string({ unit: fc.constantFrom(...'aZ09 .\'-"(),'.split('')), maxLength: 12 });
    const local = fc.string({ unit: fc.constantFrom(...'aZ09._%+-'.split('')), maxLength: 8 });
    const domain = fc.string({ unit: fc.constantFrom(...'aZ09.-'.split('')), maxLength: 8 });
    const value = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'aZ09._%+-@<> \'".,;:()[]\\'.split('')), maxLength: 30 }),
      fc
        .tuple(name, local, domain, fc.constantFrom('<>', '', '< >', '<'))
        .map(([n, l, d, br]) => `${n}${br[0] ?? ''}${l}@${d}${br.slice(1)}`.trim()),
    );
    fc.assert(
      fc.property(value, (v) => {
        expect(fieldAddresses(v)).toEqual(slow(v));
      }),
      { numRuns: 5000 },
    );
    expect(fieldAddresses("Dr. Jane O'Brien-Lee <Jane.OBrien@Clinic.test>")).toEqual([
      'jane.obrien@clinic.test',
    ]);
    expect(fieldAddresses('"Lee, Jane" <jane@clinic.test>, desk@clinic.test')).toEqual([
      'jane@clinic.test',
      'desk@clinic.test',
    ]);
  });
});
