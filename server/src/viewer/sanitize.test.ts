import { describe, expect, it } from 'vitest';
import { sanitizeMessageHtml } from './sanitize.ts';

describe('sanitizeMessageHtml', () => {
  it('keeps formatting, tables and safe links (opened without a referrer)', () => {
    const out = sanitizeMessageHtml(
      '<p>Hi <b>there</b></p><table><tr><td colspan="2">x</td></tr></table><a href="https://calm.example/info">info</a>',
    );
    expect(out).toContain('<p>Hi <b>there</b></p>');
    expect(out).toContain('<td colspan="2">x</td>');
    expect(out).toContain('href="https://calm.example/info"');
    expect(out).toContain('rel="noopener noreferrer nofollow"');
  });

  it.each([
    ['<script>alert(1)</script>ok', 'alert'],
    ['<img src=x onerror=alert(1)>', 'onerror'],
    ['<a href="javascript:alert(1)">x</a>', 'javascript:'],
    ['<a href="JaVaScRiPt:alert(1)">x</a>', 'alert'],
    ['<iframe src="https://evil.example"></iframe>', 'iframe'],
    ['<div style="background:url(x)">x</div>', 'style'],
    ['<svg><script>alert(1)</script></svg>', 'script'],
    ['<form action="https://evil.example"><input name=a></form>', 'form'],
    ['<img src="https://tracker.example/pixel.gif">', 'tracker'],
    ['<base href="https://evil.example/">', 'base'],
    ['<meta http-equiv="refresh" content="0;url=https://evil.example">', 'refresh'],
  ])('removes %s', (html, banned) => {
    expect(sanitizeMessageHtml(html).toLowerCase()).not.toContain(banned.toLowerCase());
  });

  it('keeps inline data: images but drops other image sources', () => {
    const png = 'data:image/png;base64,iVBORw0KGgo=';
    expect(sanitizeMessageHtml(`<img src="${png}" alt="chart">`)).toContain(png);
    expect(sanitizeMessageHtml('<img src="data:text/html;base64,PHNjcmlwdD4=">')).not.toContain('data:');
  });
});
