import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { htmlToText, mapToHtml } from './html-text.ts';

function slice(html: string, needle: string): string {
  const ht = htmlToText(html);
  const at = ht.text.indexOf(needle);
  expect(at).toBeGreaterThanOrEqual(0);
  const r = mapToHtml(ht, at, at + needle.length, html.length);
  return html.slice(r.start, r.end);
}

describe('htmlToText', () => {
  it('drops tags and keeps the text a reader sees', () => {
    expect(htmlToText('<p>Hello <b>Jane</b> Doe</p>').text).toBe('Hello Jane Doe\n');
  });

  it('turns block elements and <br> into newlines and collapses whitespace', () => {
    const { text } = htmlToText('<div>Line   one</div>\n\n<div>Line\ttwo<br>three</div>');
    expect(text).toBe('Line one\nLine two\nthree\n');
  });

  it('drops scripts, styles, comments, Outlook conditional comments and head-only content', () => {
    const html =
      '<html><head><title>Secret title</title><style>p{color:red}</style>' +
      '<xml><o:OfficeDocumentSettings>Normal</o:OfficeDocumentSettings></xml></head>' +
      '<body><!--[if mso]>hidden<![endif]--><script>var a = "<p>x</p>";</script><p>Visible</p></body></html>';
    expect(htmlToText(html).text.trim()).toBe('Visible');
  });

  it('decodes named, decimal and hex references, with the HTML5 repairs', () => {
    const { text } = htmlToText('Jos&eacute; &amp; Ren&#233;e &#x1F600; &#150; &#0; &bogus; &amp');
    expect(text).toBe('José & Renée \u{1F600} \u2013 \ufffd &bogus; &');
  });

  it('treats a lone "<" as text and a ">" inside a quoted attribute as part of the tag', () => {
    expect(htmlToText('a < b <a title="x > y">link</a>').text).toBe('a < b link');
  });

  it('keeps whitespace inside <pre>', () => {
    expect(htmlToText('<pre>a  b\r\n c</pre>').text).toBe('a  b\n c\n');
  });

  it('maps a text range to the HTML range that produced it, entities and inline tags included', () => {
    expect(slice('<p>Dear Jos&eacute; Garc&iacute;a,</p>', 'José García')).toBe('Jos&eacute; Garc&iacute;a');
    expect(slice('<p>Dear <b>Jane</b> Doe,</p>', 'Jane Doe')).toBe('Jane</b> Doe');
    expect(slice('<p>Dear Jane\n   Doe,</p>', 'Jane Doe')).toBe('Jane\n   Doe');
  });

  it('returns an empty map for empty input and for markup-only input', () => {
    expect(htmlToText('').text).toBe('');
    expect(htmlToText('<div><br/></div>').text).toBe('\n');
    expect(htmlToText('<!-- unterminated').text).toBe('');
    expect(htmlToText('<p class="x').text).toBe('');
  });

  it('converts a 1 MB body in linear time', () => {
    const html = '<p>Hello <b>world</b> &amp; friends</p>'.repeat(30_000);
    const ht = htmlToText(html);
    expect(ht.text.length).toBeGreaterThan(600_000);
  });

  it('on arbitrary input, every unit maps to a non-empty, increasing HTML range and plain characters map to themselves', () => {
    const htmlish = fc
      .array(
        fc.oneof(
          fc.string({ unit: 'grapheme' }),
          fc.constantFrom(
            '<p>',
            '</p>',
            '<br>',
            '<b>',
            '</b>',
            '<script>x<p>y</script>',
            '<!-- c -->',
            '&amp;',
            '&eacute;',
            '&#x41;',
            '&#99999999;',
            '&',
            '<',
            '>',
            '"',
            '<a href="a>b">',
            '<pre>',
            '</pre>',
            '\r\n',
            '<style>',
            '</style',
            '<td>',
            '&nbsp;',
            '<textarea>a&lt;b</textarea>',
          ),
        ),
        { maxLength: 40 },
      )
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.oneof(htmlish, fc.string({ unit: 'binary' })), (html) => {
        const ht = htmlToText(html);
        expect(ht.starts.length).toBe(ht.text.length);
        let prevStart = 0;
        for (let k = 0; k < ht.text.length; k++) {
          const s = ht.starts[k]!;
          const e = ht.ends[k]!;
          expect(s).toBeLessThan(e);
          expect(e).toBeLessThanOrEqual(html.length);
          expect(s).toBeGreaterThanOrEqual(prevStart);
          prevStart = s;
          const unit = ht.text[k]!;
          // A unit taken from one source character that is not whitespace is that character.
          if (e - s === 1 && !/\s/.test(unit) && html[s] !== '&') expect(html[s]).toBe(unit);
        }
        for (let a = 0; a <= ht.text.length; a += 3) {
          const r = mapToHtml(ht, a, Math.min(ht.text.length, a + 5), html.length);
          expect(r.start).toBeLessThanOrEqual(r.end);
          expect(r.end).toBeLessThanOrEqual(html.length);
        }
      }),
      { numRuns: 500 },
    );
  });
});
