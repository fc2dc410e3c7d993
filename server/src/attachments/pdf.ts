import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ExtractLimits } from './limits.ts';
import type { Extracted } from './types.ts';

// PDF text through PDF.js (pdfjs-dist, Mozilla's parser, the legacy build for Node 20) on a worker
// thread. A hostile PDF can make a parser loop or allocate without end; on the event loop that would
// stop every request of the server. On a thread it is bounded: a wall-clock limit per PDF (the thread
// is terminated when it passes, and a new one started for the next PDF) and a heap limit
// (resourceLimits: the thread dies, the server does not). Either way the PDF is "unreadable".
//
// The thread never logs: PDF.js is run with verbosity 0, and what comes back is the text, a page
// count and a stable reason code. Eval is off (isEvalSupported: false: no font-program code).

const require = createRequire(import.meta.url);
const PDFJS_DIR = dirname(require.resolve('pdfjs-dist/package.json'));

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
let lib;
const load = () => (lib ??= import(workerData.pdfjs));
parentPort.on('message', async (m) => {
  let doc;
  try {
    const pdfjs = await load();
    doc = await pdfjs.getDocument({
      data: m.data,
      isEvalSupported: false,
      disableFontFace: true,
      useSystemFonts: false,
      useWorkerFetch: false,
      stopAtErrors: false,
      verbosity: 0,
      cMapUrl: workerData.cmaps,
      cMapPacked: true,
      standardFontDataUrl: workerData.fonts,
    }).promise;
    const pages = Math.min(doc.numPages, m.maxPages);
    let text = '';
    let truncated = doc.numPages > m.maxPages;
    for (let p = 1; p <= pages; p++) {
      const page = await doc.getPage(p);
      const content = await page.getTextContent();
      for (const item of content.items) {
        if (typeof item.str !== 'string') continue;
        text += item.str + (item.hasEOL ? '\\n' : ' ');
      }
      text += '\\n';
      page.cleanup();
      if (text.length > m.maxChars) {
        truncated = true;
        break;
      }
    }
    parentPort.postMessage({ id: m.id, ok: true, text: text.slice(0, m.maxChars), pages, truncated });
  } catch (e) {
    const name = (e && e.name) || '';
    const reason = name === 'PasswordException' ? 'encrypted' : 'corrupt';
    parentPort.postMessage({ id: m.id, ok: false, reason });
  } finally {
    if (doc) doc.destroy().catch(() => {});
  }
});
`;

interface Reply {
  id: number;
  ok: boolean;
  text?: string;
  pages?: number;
  truncated?: boolean;
  reason?: 'encrypted' | 'corrupt';
}

interface Pending {
  resolve: (r: Extracted) => void;
  timer: ReturnType<typeof setTimeout>;
  worker: Worker;
}

/**
 * One PDF thread, started on first use and kept (PDF.js loads in ~100 ms). Its PDFs are parsed one
 * at a time, in order: the wall-clock limit of each then counts its own work only, and a PDF that
 * has to be stopped takes no other with it.
 */
class PdfThread {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();
  /** PDFs given to this thread and not yet answered (queued or parsing). */
  load = 0;

  constructor(private readonly heapMb: number) {}

  extract(data: Uint8Array, limits: ExtractLimits): Promise<Extracted> {
    this.load++;
    const run = this.queue.then(() => this.run(data, limits));
    this.queue = run.catch(() => undefined);
    return run.finally(() => this.load--);
  }

  private start(): Worker {
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        pdfjs: pathToFileURL(join(PDFJS_DIR, 'legacy/build/pdf.mjs')).href,
        cmaps: join(PDFJS_DIR, 'cmaps') + '/',
        fonts: join(PDFJS_DIR, 'standard_fonts') + '/',
      },
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: 32 },
      stdout: true,
      stderr: true,
    });
    // Nothing a PDF makes PDF.js print reaches the server's output (stdout/stderr: true above pipes
    // them to streams nobody reads; they are drained so the thread never blocks on them).
    w.stdout.resume();
    w.stderr.resume();
    w.unref();
    w.on('message', (r: Reply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      clearTimeout(p.timer);
      p.resolve(toExtracted(r));
    });
    const fail = () => {
      if (this.worker === w) this.worker = null;
      for (const [id, p] of this.pending) {
        // Only this thread's: a thread stopped for its time limit exits after the next has started.
        if (p.worker !== w) continue;
        clearTimeout(p.timer);
        this.pending.delete(id);
        // Out of memory (resourceLimits) or a crash inside PDF.js: the PDF is unreadable.
        p.resolve({ ok: false, reason: 'timeout' });
      }
    };
    w.on('error', fail);
    w.on('exit', fail);
    return w;
  }

  private run(data: Uint8Array, limits: ExtractLimits): Promise<Extracted> {
    const w = (this.worker ??= this.start());
    const id = this.nextId++;
    return new Promise<Extracted>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ ok: false, reason: 'timeout' });
        // The thread may be stuck in a loop: only terminating it stops it.
        if (this.worker === w) this.worker = null;
        void w.terminate();
      }, limits.pdfTimeoutMs);
      this.pending.set(id, { resolve, timer, worker: w });
      // A copy: PDF.js takes ownership of (and detaches) what it is given.
      const copy = new Uint8Array(data);
      w.postMessage({ id, data: copy, maxPages: limits.maxPages, maxChars: limits.maxChars }, [copy.buffer]);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}

function toExtracted(r: Reply): Extracted {
  if (!r.ok) return { ok: false, reason: r.reason ?? 'corrupt' };
  const text = r.text ?? '';
  const pages = Math.max(1, r.pages ?? 1);
  // A page of text has hundreds of letters; a scanned page has none (or a stamped page number).
  const letters = text.replace(/\s+/g, '').length;
  if (letters < 20 * pages) return { ok: true, text, complete: false, reason: 'no_text' };
  if (r.truncated) return { ok: true, text, complete: false, reason: 'truncated' };
  return { ok: true, text, complete: true };
}

/**
 * The PDF threads (ExtractLimits.pdfThreads of them per limits), each started on first use. Every
 * send and the gateway share them: with one thread, a hostile PDF that runs to its time limit would
 * hold up every other clinician's PDFs behind it for that long. A PDF goes to the least busy thread,
 * so one slow PDF delays only those queued on its own thread.
 */
const pools = new Map<string, PdfThread[]>();

/** The text of a PDF, on a PDF thread, within the limits. */
export function pdfText(data: Uint8Array, limits: ExtractLimits): Promise<Extracted> {
  const key = `${limits.pdfHeapMb}/${limits.pdfThreads}`;
  let pool = pools.get(key);
  if (!pool) {
    pool = Array.from({ length: Math.max(1, limits.pdfThreads) }, () => new PdfThread(limits.pdfHeapMb));
    pools.set(key, pool);
  }
  let best = pool[0]!;
  for (const t of pool) if (t.load < best.load) best = t;
  return best.extract(data, limits);
}

/** Stops the PDF threads (tests, shutdown); the next PDF starts one again. */
export async function closePdfThreads(): Promise<void> {
  const all = [...pools.values()].flat();
  pools.clear();
  await Promise.all(all.map((t) => t.close()));
}
