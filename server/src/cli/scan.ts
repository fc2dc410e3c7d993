// `attune scan`: the PHI detector and the practice policy from the command line.
//
//   attune scan [--json] [--policy FILE] [FILE...]   each FILE (or stdin) is one message; prints findings
//                                                    and the decision (human-readable, or JSON)
//   attune scan --jsonl [--policy FILE] [FILE...]    one JSON object per line in, one per line out
//
// The --jsonl output is a contract (issue 2): for each input line exactly
//   {"id","decision","findings":[{"field","type","start","end","text","confidence"}]}
// or, for a line that cannot be scanned, {"id","error","line"} with a stable error code; the stream goes
// on. Exit codes: 0 every input scanned; 1 some input could not be read or parsed (the others were
// scanned); 2 usage error (bad option, unreadable policy).
//
// It goes through scanAndDecide, the same path as the add-ins, the API and the gateway.

import { readFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import {
  DEFAULT_POLICY,
  PolicySchema,
  scanAndDecide,
  type Policy,
  type ScanAndDecideResult,
} from '@attune/shared/policy';
import type { MessageInput } from '@attune/shared/phi';
import { basename } from 'node:path';
import { closePdfThreads, extractAll, kindOf, type ScannedAttachment } from '../attachments/index.ts';

export interface Io {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

const USAGE = `usage: attune scan [--json] [--policy FILE] [FILE...]
       attune scan --jsonl [--policy FILE] [FILE...]

Scans messages for PHI and prints the findings and the policy decision (allow, warn, encrypt, block).
With no FILE, reads stdin. A .html/.htm file is scanned as an HTML body, a .eml file as a whole email
(subject, body, recipients, attachments with their contents), a PDF, Office (DOCX, XLSX, PPTX, ODF) or
RTF document as an attachment's text, as the server reads it; anything else as a plain-text body.
Attachments whose contents cannot be read (encrypted, scanned pages, unsupported) are listed.

  --json          one JSON document: {"inputs":[{"source","decision","reasons","phi","findings"}]}
  --jsonl         JSON lines: {"id","text"} or {"id","subject","body","to"} in;
                  {"id","decision","findings":[{"field","type","start","end","text","confidence"}]} out
  --policy FILE   apply a practice policy (JSON, as PUT /v1/policy) instead of the default

Exit status: 0 all inputs scanned, 1 some input unreadable or invalid (the rest scanned), 2 usage error.
`;

/** Longest JSONL line accepted (characters); longer lines get {"error":"too_large"}. */
export const MAX_LINE_CHARS = 5_000_000;

type Mode = 'human' | 'json' | 'jsonl';

interface Args {
  mode: Mode;
  policyFile?: string;
  files: string[];
}

function parseArgs(
  args: string[],
): { ok: true; value: Args } | { ok: false; reason: string } | { ok: 'help' } {
  const out: Args = { mode: 'human', files: [] };
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!;
    if (a === '--help' || a === '-h') return { ok: 'help' };
    if (a === '--json' || a === '--jsonl') {
      const mode = a === '--json' ? 'json' : 'jsonl';
      if (out.mode !== 'human' && out.mode !== mode)
        return { ok: false, reason: '--json and --jsonl cannot be combined' };
      out.mode = mode;
    } else if (a === '--policy') {
      const v = args[++k];
      if (!v) return { ok: false, reason: '--policy needs a FILE' };
      out.policyFile = v;
    } else if (a.startsWith('--policy=')) {
      out.policyFile = a.slice('--policy='.length);
    } else if (a === '-') {
      out.files.push('-');
    } else if (a === '--') {
      out.files.push(...args.slice(k + 1));
      break;
    } else if (a.startsWith('-')) {
      return { ok: false, reason: `unknown option ${a}` };
    } else {
      out.files.push(a);
    }
  }
  return { ok: true, value: out };
}

export async function run(
  args: string[],
  io: Io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const parsed = parseArgs(args);
  if (parsed.ok === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  if (!parsed.ok) {
    io.stderr.write(`attune scan: ${parsed.reason}\n\n${USAGE}`);
    return 2;
  }
  const { mode, policyFile, files } = parsed.value;

  let policy: Policy = DEFAULT_POLICY;
  if (policyFile) {
    const loaded = await loadPolicy(policyFile);
    if (!loaded.ok) {
      io.stderr.write(`attune scan: ${loaded.reason}\n`);
      return 2;
    }
    policy = loaded.policy;
  }

  const out = new Output(io.stdout);
  try {
    if (mode === 'jsonl') return await runJsonl(files, policy, io, out);
    return await runDocuments(files, policy, mode, io, out);
  } catch (err) {
    // A closed pipe (`attune scan --jsonl big.jsonl | head`) is not a failure of the scan.
    if (isEpipe(err)) return 0;
    throw err;
  } finally {
    // PDFs are read on a worker thread (started only if one was read); let the process exit.
    await closePdfThreads();
  }
}

async function loadPolicy(
  file: string,
): Promise<{ ok: true; policy: Policy } | { ok: false; reason: string }> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (err) {
    return { ok: false, reason: `cannot read policy ${file}: ${errCode(err)}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, reason: `policy ${file} is not valid JSON` };
  }
  const result = PolicySchema.safeParse(json);
  if (!result.success) {
    const first = result.error.issues[0];
    return {
      ok: false,
      reason: `policy ${file} is invalid: ${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'invalid'}`,
    };
  }
  return { ok: true, policy: result.data };
}

// ---------------------------------------------------------------------------------------------------
// Whole documents: one message per file (or stdin).

interface DocumentResult {
  source: string;
  decision: string;
  reasons: string[];
  phi: boolean;
  findings: {
    field: string;
    type: string;
    start: number;
    end: number;
    text: string;
    confidence: number;
    reason: string;
  }[];
  /** Attachments whose contents could not be read, or only in part (stable reason codes). */
  unreadable?: { attachment: string; reason: string }[];
}

async function runDocuments(
  files: string[],
  policy: Policy,
  mode: Mode,
  io: Io,
  out: Output,
): Promise<number> {
  const sources = files.length > 0 ? files : ['-'];
  const results: DocumentResult[] = [];
  let status = 0;
  for (const source of sources) {
    const label = source === '-' ? '<stdin>' : source;
    const message = await readMessage(source, io.stdin);
    if (!message.ok) {
      io.stderr.write(`attune scan: ${label}: ${message.reason}\n`);
      status = 1;
      continue;
    }
    const r = scanAndDecide(policy, message.message);
    const doc = toDocument(label, r);
    if (message.unreadable.length > 0) doc.unreadable = message.unreadable;
    if (mode === 'json') results.push(doc);
    else await out.write(formatHuman(doc));
  }
  if (mode === 'json') await out.write(`${JSON.stringify({ inputs: results }, null, 2)}\n`);
  return status;
}

function toDocument(source: string, r: ScanAndDecideResult): DocumentResult {
  return {
    source,
    decision: r.decision.decision,
    reasons: r.decision.reasons,
    phi: r.decision.phi,
    findings: r.scan.fields.flatMap((f) =>
      f.findings.map((x) => ({
        field: f.field,
        type: x.type,
        start: x.start,
        end: x.end,
        text: x.text,
        confidence: x.confidence,
        reason: x.reason,
      })),
    ),
  };
}

function formatHuman(doc: DocumentResult): string {
  const lines = [`${doc.source}: ${doc.decision.toUpperCase()}`];
  for (const r of doc.reasons) lines.push(`  ${r}`);
  for (const u of doc.unreadable ?? [])
    lines.push(
      `  attachment ${JSON.stringify(u.attachment)}: contents ${u.reason === 'truncated' ? 'read in part' : 'not read'} (${u.reason})`,
    );
  if (doc.findings.length === 0) lines.push('  (no findings)');
  for (const f of doc.findings) {
    const where = `${f.field} ${f.start}-${f.end}`;
    lines.push(
      `  ${where.padEnd(18)} ${f.type.padEnd(14)} ${f.confidence.toFixed(2)}  ${JSON.stringify(f.text)}  (${f.reason})`,
    );
  }
  return `${lines.join('\n')}\n\n`;
}

type Unreadable = { attachment: string; reason: string };
type ReadResult =
  { ok: true; message: MessageInput; unreadable: Unreadable[] } | { ok: false; reason: string };

/** File names read as a document (an attachment's text), not as a text body. */
const DOCUMENT_NAMES = /\.(pdf|docx|docm|xlsx|xlsm|pptx|pptm|odt|ods|odp|rtf)$/i;

async function readMessage(source: string, stdin: Readable): Promise<ReadResult> {
  let buf: Buffer;
  try {
    buf = source === '-' ? await readAll(stdin) : await readFile(source);
  } catch (err) {
    return { ok: false, reason: `cannot read (${errCode(err)})` };
  }
  const lower = source.toLowerCase();
  if (lower.endsWith('.eml')) return parseEml(buf);
  const name = source === '-' ? 'stdin' : basename(source);
  const asFile = { filename: name, contentType: 'application/octet-stream', bytes: buf };
  const kind = kindOf(asFile);
  if (
    DOCUMENT_NAMES.test(lower) ||
    (source === '-' && (kind === 'pdf' || kind === 'office' || kind === 'rtf'))
  )
    return withAttachments({}, [asFile]);
  const text = buf.toString('utf8');
  if (
    lower.endsWith('.html') ||
    lower.endsWith('.htm') ||
    (source === '-' && /^\s*<(?:!doctype|html|body|div|p|table)\b/i.test(text))
  ) {
    return { ok: true, message: { html: text }, unreadable: [] };
  }
  return { ok: true, message: { body: text }, unreadable: [] };
}

/** The message with its attachments' contents read as the server reads them (attachments/). */
async function withAttachments(
  message: MessageInput,
  files: { filename: string; contentType: string; bytes: Uint8Array }[],
): Promise<ReadResult> {
  const read: ScannedAttachment[] = await extractAll(files);
  const unreadable: Unreadable[] = [];
  message.attachments = files.map((f, i) => {
    const r = read[i]!;
    if (r.unreadable) unreadable.push({ attachment: f.filename, reason: r.unreadable });
    return { name: f.filename, ...(r.text ? { text: r.text } : {}) };
  });
  return { ok: true, message, unreadable };
}

async function parseEml(buf: Buffer): Promise<ReadResult> {
  // Loaded only for .eml input: mailparser is large and most runs never need it.
  const { simpleParser } = await import('mailparser');
  let mail: Awaited<ReturnType<typeof simpleParser>>;
  try {
    mail = await simpleParser(buf, { skipImageLinks: true });
  } catch {
    return { ok: false, reason: 'not a readable email message' };
  }
  const addresses = (v: typeof mail.to): string[] =>
    (Array.isArray(v) ? v : v ? [v] : []).flatMap((a) =>
      a.value.map((x) => (x.name ? `${x.name} <${x.address ?? ''}>` : (x.address ?? ''))),
    );
  const message: MessageInput = {
    subject: mail.subject ?? '',
    to: addresses(mail.to),
    cc: addresses(mail.cc),
  };
  if (typeof mail.html === 'string' && mail.html) message.html = mail.html;
  else message.body = mail.text ?? '';
  return withAttachments(
    message,
    mail.attachments.map((a) => ({
      filename: a.filename ?? '',
      contentType: a.contentType,
      bytes: a.content,
    })),
  );
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------------------------------
// JSON lines.

/** Stable error codes of --jsonl error lines. */
export type JsonlError = 'invalid_json' | 'invalid_input' | 'invalid_id' | 'too_large';

type LineResult =
  | { ok: true; id: string | number; message: MessageInput }
  | { ok: false; id: string | number | null; error: JsonlError; why: string };

export function parseJsonlLine(line: string): LineResult {
  if (line.length > MAX_LINE_CHARS)
    return { ok: false, id: null, error: 'too_large', why: `line longer than ${MAX_LINE_CHARS} characters` };
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { ok: false, id: null, error: 'invalid_json', why: 'not valid JSON' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return { ok: false, id: null, error: 'invalid_input', why: 'expected a JSON object' };
  }
  const o = v as Record<string, unknown>;
  const id = o.id;
  if (!((typeof id === 'string' && id.length <= 1000) || (typeof id === 'number' && Number.isFinite(id)))) {
    return {
      ok: false,
      id: null,
      error: 'invalid_id',
      why: '"id" must be a string (up to 1000 characters) or a number',
    };
  }
  const bad = (why: string): LineResult => ({ ok: false, id, error: 'invalid_input', why });
  for (const k of ['text', 'subject', 'body', 'html'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'string') return bad(`"${k}" must be a string`);
  }
  if (o.text !== undefined && (o.body !== undefined || o.html !== undefined))
    return bad('give "text" or "body", not both');
  const recipients = (k: 'to' | 'cc'): string[] | null => {
    const r = o[k];
    if (r === undefined) return [];
    if (typeof r === 'string') return splitAddressList(r);
    if (Array.isArray(r) && r.every((x): x is string => typeof x === 'string')) return r;
    return null;
  };
  const to = recipients('to');
  const cc = recipients('cc');
  if (!to || !cc) return bad('"to" and "cc" must be a string or an array of strings');
  if (
    o.text === undefined &&
    o.subject === undefined &&
    o.body === undefined &&
    o.html === undefined &&
    to.length === 0
  ) {
    return bad('nothing to scan: give "text", or "subject"/"body"/"to"');
  }
  const message: MessageInput = { to, cc };
  if (typeof o.subject === 'string') message.subject = o.subject;
  if (typeof o.text === 'string') message.body = o.text;
  if (typeof o.body === 'string') message.body = o.body;
  if (typeof o.html === 'string') message.html = o.html;
  return { ok: true, id, message };
}

/** Splits "a@x.org, \"Roe, Jane\" <j@y.com>; b@z.org" at commas and semicolons outside quotes and <>. */
export function splitAddressList(list: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let angle = false;
  let from = 0;
  for (let k = 0; k <= list.length; k++) {
    const c = list[k];
    if (c === '"') quoted = !quoted;
    else if (c === '<' && !quoted) angle = true;
    else if (c === '>' && !quoted) angle = false;
    else if (c === undefined || ((c === ',' || c === ';') && !quoted && !angle)) {
      const part = list.slice(from, k).trim();
      if (part) out.push(part);
      from = k + 1;
    }
  }
  return out;
}

async function runJsonl(files: string[], policy: Policy, io: Io, out: Output): Promise<number> {
  let status = 0;
  for (const source of files.length > 0 ? files : ['-']) {
    let input: Readable;
    if (source === '-') {
      input = io.stdin;
    } else {
      const stream = createReadStream(source);
      try {
        await once(stream, 'open');
      } catch (err) {
        io.stderr.write(`attune scan: ${source}: cannot read (${errCode(err)})\n`);
        status = 1;
        continue;
      }
      input = stream;
    }
    const label = source === '-' ? '<stdin>' : source;
    let lineNo = 0;
    const rl = createInterface({ input, crlfDelay: Infinity });
    for await (const raw of rl) {
      lineNo++;
      const line = raw.trim();
      if (!line) continue;
      const parsed = parseJsonlLine(line);
      if (!parsed.ok) {
        status = 1;
        // The reason names the problem, never the content (it may be PHI).
        io.stderr.write(`attune scan: ${label}:${lineNo}: ${parsed.error}: ${parsed.why}\n`);
        await out.write(`${JSON.stringify({ id: parsed.id, error: parsed.error, line: lineNo })}\n`);
        continue;
      }
      const r = scanAndDecide(policy, parsed.message);
      const findings = r.scan.fields.flatMap((f) =>
        f.findings.map((x) => ({
          field: f.field,
          type: x.type,
          start: x.start,
          end: x.end,
          text: x.text,
          confidence: x.confidence,
        })),
      );
      await out.write(`${JSON.stringify({ id: parsed.id, decision: r.decision.decision, findings })}\n`);
    }
  }
  return status;
}

// ---------------------------------------------------------------------------------------------------

// Writes with backpressure, so a large JSONL file streams in constant memory.
class Output {
  private failed: Error | null = null;
  constructor(private readonly stream: Writable) {
    stream.on('error', (err: Error) => {
      this.failed = err;
    });
  }
  async write(s: string): Promise<void> {
    if (this.failed) throw this.failed;
    if (!this.stream.write(s)) {
      await Promise.race([
        once(this.stream, 'drain'),
        once(this.stream, 'error').then(([e]) => Promise.reject(e as Error)),
      ]);
    }
  }
}

function isEpipe(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'EPIPE';
}

function errCode(err: unknown): string {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : 'error';
}
