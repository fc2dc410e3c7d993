// `npm run bench:attachments`: how long attachment text extraction takes (server/src/attachments),
// for documents made here (attachments/testing.ts): a typical two-page PDF (an intake form, ~60
// lines) and a DOCX (a progress note, ~40 paragraphs), then the shared scan of the text. PDF figures
// include the round trip to the PDF thread, after one warm-up that starts it (~the first PDF's cost).
import { scanMessage } from '../../shared/src/phi/message.ts';
import { closePdfThreads, extractText } from '../../server/src/attachments/index.ts';
import { makeDocx, makePdf } from '../../server/src/attachments/testing.ts';

const line = (i: number) =>
  `${i}. Client reports sleep has improved; PHQ-9 score 12 today. Discussed coping plan for panic at work.`;
const page = (from: number) => Array.from({ length: 30 }, (_, i) => line(from + i));
const pdf = makePdf([['Intake form', 'Client: Jane Doe, DOB 03/14/1985', ...page(1)], page(31)]);
const docx = makeDocx([
  'Progress note',
  'Client: John Smith, MRN 48213377',
  ...Array.from({ length: 40 }, (_, i) => line(i + 1)),
]);

async function time(label: string, bytes: Buffer, name: string, runs: number): Promise<void> {
  const first = performance.now();
  const r = await extractText({ bytes, filename: name, contentType: 'application/octet-stream' });
  const firstMs = performance.now() - first;
  if (!r.ok) throw new Error(`${label}: unreadable (${r.reason})`);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await extractText({ bytes, filename: name, contentType: 'application/octet-stream' });
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  const t0 = performance.now();
  scanMessage({ attachments: [{ name, text: r.text }] });
  const scanMs = performance.now() - t0;
  const p = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!.toFixed(2);
  console.log(
    `${label.padEnd(22)} ${String(bytes.length).padStart(6)} bytes  ${String(r.text.length).padStart(5)} chars  ` +
      `first ${firstMs.toFixed(1)} ms  median ${p(0.5)} ms  p95 ${p(0.95)} ms  (${runs} runs)  scan of the text ${scanMs.toFixed(2)} ms`,
  );
}

await time('PDF, 2 pages', pdf, 'intake.pdf', 50);
await time('DOCX, 42 paragraphs', docx, 'note.docx', 200);
await closePdfThreads();
