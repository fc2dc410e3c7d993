import type { Finding } from '@attune/shared/phi';
import { describe, expect, it } from 'vitest';
import { isPlaceholder, redactHtml, redactText, segments } from './highlight.ts';

const f = (type: Finding['type'], start: number, end: number, text: string): Finding => ({
  type,
  start,
  end,
  text,
  confidence: 0.9,
  reason: 'test',
});

describe('segments', () => {
  it('splits text into plain and marked parts that join back to the text', () => {
    const text = 'Hi Jane, your sertraline is ready.';
    const s = segments(text, [f('MEDICATION', 14, 24, 'sertraline'), f('NAME', 3, 7, 'Jane')]);
    expect(s.map((x) => x.text).join('')).toBe(text);
    expect(s.filter((x) => x.finding).map((x) => x.text)).toEqual(['Jane', 'sertraline']);
  });

  it('ignores overlapping and out-of-range findings instead of duplicating text', () => {
    const text = 'major depressive disorder';
    const s = segments(text, [
      f('DIAGNOSIS', 0, 25, text),
      f('DIAGNOSIS', 6, 16, 'depressive'),
      f('NAME', 30, 40, 'x'),
    ]);
    expect(s.map((x) => x.text).join('')).toBe(text);
    expect(s).toHaveLength(1);
  });
});

describe('redactHtml', () => {
  it('replaces findings with type placeholders and keeps tags inside a span balanced', () => {
    const html = '<p>Dear <b>Jane</b> Doe, your PTSD plan.</p>';
    const start = html.indexOf('<b>');
    const end = html.indexOf(' Doe') + 4;
    const out = redactHtml(html, [
      f('NAME', start, end, html.slice(start, end)),
      f('DIAGNOSIS', html.indexOf('PTSD'), html.indexOf('PTSD') + 4, 'PTSD'),
    ]);
    expect(out).toBe('<p>Dear [NAME]<b></b>, your [DIAGNOSIS] plan.</p>');
  });

  it('redacts plain text without treating "<" as markup', () => {
    expect(redactText('a < b Jane', [f('NAME', 6, 10, 'Jane')])).toBe('a < b [NAME]');
  });

  it('recognises its own placeholders so they are not reported again', () => {
    const text = 'Hi [NAME], see you';
    expect(isPlaceholder(text, f('NAME', 4, 8, 'NAME'))).toBe(true);
    expect(isPlaceholder(text, f('NAME', 3, 9, '[NAME]'))).toBe(true);
    expect(isPlaceholder('Hi NAME, see you', f('NAME', 3, 7, 'NAME'))).toBe(false);
  });
});
