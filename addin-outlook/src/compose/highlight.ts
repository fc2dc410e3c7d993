// Splits text into plain and highlighted segments for the preview. Pure, so it is unit-tested.
import { PHI_TYPES } from '@attune/shared/phi';
import type { Finding, MessageScan } from '@attune/shared/phi';

export interface Segment {
  text: string;
  finding: Finding | null;
  /** Index of the finding in the (sorted) list, for linking list entries and marks. */
  index: number;
}

export function segments(text: string, findings: readonly Finding[]): Segment[] {
  const sorted = [...findings].sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Segment[] = [];
  let pos = 0;
  sorted.forEach((f, index) => {
    const start = Math.max(f.start, pos);
    const end = Math.min(f.end, text.length);
    if (end <= start) return; // overlaps an earlier finding, or out of range
    if (start > pos) out.push({ text: text.slice(pos, start), finding: null, index: -1 });
    out.push({ text: text.slice(start, end), finding: f, index });
    pos = end;
  });
  if (pos < text.length) out.push({ text: text.slice(pos), finding: null, index: -1 });
  return out;
}

/**
 * Replaces findings in an HTML string (offsets into that string, as scanMessage reports them for
 * HTML bodies) with placeholders like [DIAGNOSIS]. Tags inside a span are kept, so a name split
 * across <b>…</b> leaves the markup balanced.
 */
export function redactHtml(html: string, findings: readonly Finding[]): string {
  const sorted = [...findings].sort((a, b) => b.start - a.start);
  let out = html;
  let limit = html.length;
  for (const f of sorted) {
    if (f.end > limit || f.start < 0 || f.end <= f.start) continue;
    const span = out.slice(f.start, f.end);
    const tags = span.match(/<[^>]*>/g)?.join('') ?? '';
    out = `${out.slice(0, f.start)}[${f.type}]${tags}${out.slice(f.end)}`;
    limit = f.start;
  }
  return out;
}

/** Same for plain text (the subject). */
export function redactText(text: string, findings: readonly Finding[]): string {
  return redactHtml(text.replace(/</g, '\u2039').replace(/>/g, '\u203a'), findings)
    .replace(/\u2039/g, '<')
    .replace(/\u203a/g, '>');
}

const TYPE_NAMES = new Set<string>(PHI_TYPES);

/** A placeholder our own redaction wrote, like "[NAME]": not a finding to show again. */
export function isPlaceholder(text: string, f: Finding): boolean {
  const inner = text.slice(f.start, f.end).replace(/^\[|\]$/g, '');
  if (!TYPE_NAMES.has(inner)) return false;
  const before = text.lastIndexOf('[', f.start);
  const after = text.indexOf(']', f.end - 1);
  return before >= 0 && before >= f.start - 1 && after >= 0 && after <= f.end;
}

/** Drops placeholder findings from a scan of `texts` (field -> the text that was scanned). */
export function withoutPlaceholders(scan: MessageScan, texts: Record<string, string>): MessageScan {
  return {
    ...scan,
    fields: scan.fields.map((ff) => {
      const t = texts[ff.field];
      return t === undefined ? ff : { ...ff, findings: ff.findings.filter((f) => !isPlaceholder(t, f)) };
    }),
  };
}
