import { headerValues, readHeaders } from './marker.ts';

// Reading a delivery status notification (RFC 3464): a multipart/report; report-type=
// delivery-status whose message/delivery-status part holds a per-message block and one block per
// recipient (Final-Recipient, Action, Status, Diagnostic-Code), blocks separated by blank lines.
// mailparser does not hand that part back (it reads message/* as an attached message), so this
// walks the MIME structure itself: only headers, boundaries and that one part, nothing decoded
// that is not needed. What it returns carries no content of the bounced message.

export interface DeliveryStatusEntry {
  action: string;
  /** RFC 3463 enhanced status code (class.subject.detail). */
  status: string;
  /** The Diagnostic-Code's text after its type ("smtp; 550 5.1.1 …"), as received. */
  diagnostic: string | null;
}

const MAX_DEPTH = 4;
const MAX_PARTS = 50;

/**
 * The per-recipient entries of the report in `raw`, or null when `raw` is no delivery status
 * notification (an auto-reply, a bounce in free text). Most serious first: failed, then delayed.
 */
export function readDeliveryStatus(raw: Buffer): DeliveryStatusEntry[] | null {
  const part = findStatusPart(raw.toString('latin1'), 0);
  if (part === null) return null;
  const entries = parseStatusFields(part);
  const rank = (a: string) => (a === 'failed' ? 0 : a === 'delayed' ? 1 : 2);
  return entries.sort((x, y) => rank(x.action) - rank(y.action));
}

function splitEntity(entity: string): { head: string; body: string } {
  const m = /\r?\n\r?\n/.exec(entity);
  if (!m) return { head: entity, body: '' };
  return { head: entity.slice(0, m.index), body: entity.slice(m.index + m[0].length) };
}

function contentType(head: string): { type: string; boundary: string | null; cte: string } {
  const headers = readHeaders(Buffer.from(`${head}\r\n\r\n`, 'latin1'));
  const ct = headerValues(headers, 'content-type')[0] ?? 'text/plain';
  const type = (/^\s*([^;\s]+)/.exec(ct)?.[1] ?? 'text/plain').toLowerCase();
  const boundary = /boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(ct);
  const cte = (headerValues(headers, 'content-transfer-encoding')[0] ?? '7bit').trim().toLowerCase();
  return { type, boundary: boundary ? (boundary[1] ?? boundary[2] ?? null) : null, cte };
}

function findStatusPart(entity: string, depth: number): string | null {
  const { head, body } = splitEntity(entity);
  const { type, boundary, cte } = contentType(head);
  if (type === 'message/delivery-status' || type === 'message/global-delivery-status') {
    return cte === 'base64' ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('latin1') : body;
  }
  if (!type.startsWith('multipart/') || !boundary || depth >= MAX_DEPTH) return null;
  const delimiter = `--${boundary}`;
  const pieces = body.split(new RegExp(`(?:^|\\r?\\n)${escapeRe(delimiter)}`));
  // pieces[0] is the preamble; a piece starting with "--" is the close delimiter's epilogue.
  for (const piece of pieces.slice(1, MAX_PARTS + 1)) {
    if (piece.startsWith('--')) break;
    const found = findStatusPart(piece.replace(/^[ \t]*\r?\n/, ''), depth + 1);
    if (found !== null) return found;
  }
  return null;
}

function parseStatusFields(text: string): DeliveryStatusEntry[] {
  // Unfold continuation lines, then split into blocks at blank lines.
  const lines = text.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
  const blocks: Array<Map<string, string>> = [];
  let current = new Map<string, string>();
  for (const line of lines) {
    if (line.trim() === '') {
      if (current.size > 0) blocks.push(current);
      current = new Map();
      continue;
    }
    const m = /^([A-Za-z0-9-]+)\s*:\s*(.*)$/.exec(line);
    if (m && !current.has(m[1]!.toLowerCase())) current.set(m[1]!.toLowerCase(), m[2]!.trim());
  }
  if (current.size > 0) blocks.push(current);
  return blocks.flatMap((b) => {
    const action = b.get('action')?.toLowerCase();
    const status = /^([245]\.\d{1,3}\.\d{1,3})/.exec(b.get('status') ?? '')?.[1];
    if (!action || !status) return [];
    const diag = b.get('diagnostic-code');
    return [{ action, status, diagnostic: diag ? diag.replace(/^[^;]*;\s*/, '') : null }];
  });
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
