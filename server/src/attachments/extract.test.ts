import { afterAll, describe, expect, it } from 'vitest';
import { closePdfThreads, DEFAULT_EXTRACT_LIMITS, extractAll, extractText } from './index.ts';
import { makeDocx, makeOdt, makePdf, makePptx, makeXlsx, makeZipBomb } from './testing.ts';

afterAll(() => closePdfThreads());

const file = (bytes: Uint8Array, filename: string, contentType = 'application/octet-stream') => ({
  bytes,
  filename,
  contentType,
});

const INTAKE = [
  'Intake form',
  'Patient: Jane Doe, date of birth 03/14/1985',
  'Presenting problem: major depressive disorder, recurrent; panic attacks at work.',
  'Plan: weekly CBT sessions; continue sertraline 50 mg daily as prescribed.',
];

describe('extractText', () => {
  it('reads the text of a two-page PDF, whatever the content type says', async () => {
    const pdf = makePdf([INTAKE.slice(0, 2), INTAKE.slice(2)]);
    const r = await extractText(file(pdf, 'scan0001.bin'));
    expect(r.ok && r.complete).toBe(true);
    if (!r.ok) return;
    expect(r.text).toContain('Patient: Jane Doe, date of birth 03/14/1985');
    expect(r.text).toContain('sertraline 50 mg');
  });

  it('reads a DOCX body, keeping words of separate runs apart', async () => {
    const r = await extractText(file(makeDocx(['Client\tJohn Smith', 'Diagnosis: PTSD']), 'note.docx'));
    expect(r).toEqual({
      ok: true,
      complete: true,
      text: expect.stringContaining('Client John Smith\nDiagnosis: PTSD'),
    });
  });

  it('reads an XLSX: shared strings and numeric cells', async () => {
    const r = await extractText(
      file(
        makeXlsx([
          ['Name', 'MRN'],
          ['Jane Doe', 48213377],
        ]),
        'caseload.xlsx',
      ),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.text).toContain('Jane Doe');
    expect(r.text).toContain('48213377');
    // A shared-string cell's index is not text.
    expect(r.text).not.toMatch(/\b0\b/);
  });

  it('reads PPTX slides and ODT paragraphs', async () => {
    const p = await extractText(file(makePptx(['Group therapy &amp; you', 'Bipolar disorder']), 'deck.pptx'));
    expect(p.ok && p.text).toContain('Bipolar disorder');
    const o = await extractText(file(makeOdt(['Jane Doe', 'Generalized anxiety disorder']), 'n.odt'));
    expect(o.ok && o.text).toContain('Generalized anxiety disorder');
  });

  it('reads RTF without its control words and HTML without its tags', async () => {
    const rtf = Buffer.from(
      String.raw`{\rtf1\ansi{\fonttbl{\f0 Times New Roman;}}\f0\fs24 Patient: Jane Doe\par Diagnosis: bipolar disorder\tab caf\'e9 \u8212?done}`,
    );
    const r = await extractText(file(rtf, 'letter.rtf', 'application/rtf'));
    expect(r.ok && r.text).toBe('Patient: Jane Doe\nDiagnosis: bipolar disorder café —done');
    const h = await extractText(
      file(Buffer.from('<p>Patient: <b>Jane&nbsp;Doe</b></p><p>Dx: anxiety</p>'), 'x.html', 'text/html'),
    );
    expect(h.ok && h.text).toMatch(/Patient: Jane\u00a0?\s?Doe/);
  });

  it('calls a password-protected PDF unreadable (encrypted)', async () => {
    const r = await extractText(file(makePdf([INTAKE], { encrypted: true }), 'locked.pdf'));
    expect(r).toEqual({ ok: false, reason: 'encrypted' });
  });

  it('calls a PDF without a text layer partly unreadable (no_text)', async () => {
    const r = await extractText(file(makePdf([[], []], { imageOnly: true }), 'scan.pdf'));
    expect(r).toMatchObject({ ok: true, complete: false, reason: 'no_text' });
  });

  it('calls a damaged PDF unreadable, without throwing', async () => {
    const pdf = makePdf([INTAKE]);
    const broken = Buffer.concat([pdf.subarray(0, 40), Buffer.alloc(200, 0x7b)]);
    const r = await extractText(file(broken, 'x.pdf', 'application/pdf'));
    expect(r.ok === false || !r.complete).toBe(true);
    const junk = await extractText(file(Buffer.from('not a pdf at all'), 'y.pdf', 'application/pdf'));
    expect(junk.ok === false || !junk.complete).toBe(true);
  });

  it('stops a PDF that passes its time limit, and the next PDF is read by a new thread', async () => {
    const pdf = makePdf([INTAKE]);
    const slow = await extractText(file(pdf, 'a.pdf'), { ...DEFAULT_EXTRACT_LIMITS, pdfTimeoutMs: 1 });
    expect(slow).toEqual({ ok: false, reason: 'timeout' });
    const next = await extractText(file(pdf, 'a.pdf'));
    expect(next.ok && next.complete).toBe(true);
  });

  it('stops a zip bomb at the inflate limit, in bounded time', async () => {
    const bomb = makeZipBomb(64 * 1024 * 1024);
    expect(bomb.length).toBeLessThan(200 * 1024);
    const t0 = performance.now();
    const r = await extractText(file(bomb, 'bomb.docx'), {
      ...DEFAULT_EXTRACT_LIMITS,
      maxInflatedBytes: 8 * 1024 * 1024,
    });
    expect(r).toEqual({ ok: false, reason: 'limit' });
    // Stopped near the limit, not after inflating 64 MB (a generous bound, not a speed test).
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it('refuses files past the input limit, and unknown or damaged zips', async () => {
    expect(
      await extractText(file(makeDocx(['x']), 'a.docx'), { ...DEFAULT_EXTRACT_LIMITS, maxInputBytes: 10 }),
    ).toEqual({
      ok: false,
      reason: 'too_large',
    });
    const docx = makeDocx(['Jane Doe']);
    expect(await extractText(file(docx.subarray(0, docx.length - 30), 'a.docx'))).toMatchObject({
      ok: false,
    });
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    expect(await extractText(file(png, 'photo.png', 'image/png'))).toEqual({
      ok: false,
      reason: 'unsupported',
    });
  });

  it('keeps at most maxChars characters and says the rest is unread', async () => {
    const r = await extractText(file(makeDocx(['a'.repeat(5000)]), 'long.docx'), {
      ...DEFAULT_EXTRACT_LIMITS,
      maxChars: 1000,
    });
    expect(r).toMatchObject({ ok: true, complete: false, reason: 'truncated' });
    expect(r.ok && r.text.length).toBe(1000);
  });
});

describe('extractAll', () => {
  it('returns one entry per attachment, in order, with kind, text and what could not be read', async () => {
    const out = await extractAll([
      file(makePdf([INTAKE]), 'intake.pdf', 'application/pdf'),
      file(makePdf([INTAKE], { encrypted: true }), 'locked.pdf', 'application/pdf'),
      file(Buffer.from('hello'), 'a.txt', 'text/plain'),
    ]);
    expect(out.map((o) => o.kind)).toEqual(['pdf', 'pdf', 'text']);
    expect(out[0]!.text).toContain('Jane Doe');
    expect(out[0]!.unreadable).toBeUndefined();
    expect(out[1]).toEqual({ kind: 'pdf', unreadable: 'encrypted' });
    expect(out[2]).toEqual({ kind: 'text', text: 'hello' });
  });

  it("keeps one message's attachments within a total character budget, the rest counted as partly unread", async () => {
    const doc = (c: string) => file(makeDocx([c.repeat(3000)]), `${c}.docx`);
    const out = await extractAll([doc('a'), doc('b'), doc('c')], {
      ...DEFAULT_EXTRACT_LIMITS,
      maxTotalChars: 5000,
    });
    expect(out.map((o) => [o.text?.length ?? 0, o.unreadable ?? 'complete'])).toEqual([
      [expect.any(Number), 'complete'],
      [expect.any(Number), 'truncated'],
      [0, 'truncated'],
    ]);
    expect(out[0]!.text!.length + out[1]!.text!.length).toBe(5000);
  });
});

describe('PDF threads', () => {
  // A PDF that takes about a second to read (200 full pages), then a one-page PDF: with one thread the
  // second waits for the first; with the pool, it is read beside it.
  const line =
    'Patient: Jane Doe, date of birth 03/14/1985, major depressive disorder, recurrent, in remission';
  const slow = makePdf(Array.from({ length: 200 }, () => Array.from({ length: 40 }, () => line)));
  const quick = makePdf([INTAKE]);
  const order = async (pdfThreads: number) => {
    const limits = { ...DEFAULT_EXTRACT_LIMITS, maxChars: 10_000_000, pdfThreads };
    const done: string[] = [];
    await Promise.all([
      extractText(file(slow, 'long.pdf'), limits).then((r) => done.push(`long ${r.ok}`)),
      extractText(file(quick, 'short.pdf'), limits).then((r) => done.push(`short ${r.ok}`)),
    ]);
    return done;
  };

  it('reads a short PDF beside a long one instead of queueing it behind', async () => {
    expect(await order(1)).toEqual(['long true', 'short true']);
    expect(await order(2)).toEqual(['short true', 'long true']);
  });
});
