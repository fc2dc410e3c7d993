import { Inflate } from 'fflate';

// A small, bounded zip reader for Office documents (OOXML, ODF): the central directory is read
// (entries and their offsets), then only the parts asked for are inflated, chunk by chunk, with a
// running count of the bytes produced. The declared sizes of a zip are not trusted (a zip bomb
// lies about them): inflation stops as soon as the real output passes the budget.

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  localOffset: number;
}

export type ZipResult<T> = { ok: true; value: T } | { ok: false; reason: 'corrupt' | 'limit' | 'encrypted' };

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 && bytes[3] === 4;
}

/** The entries of a zip, from its central directory. */
export function zipEntries(bytes: Uint8Array, maxEntries: number): ZipResult<ZipEntry[]> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return { ok: false, reason: 'corrupt' };
  const count = view.getUint16(eocd + 10, true);
  const cdOffset = view.getUint32(eocd + 16, true);
  if (count > maxEntries) return { ok: false, reason: 'limit' };
  const entries: ZipEntry[] = [];
  const decoder = new TextDecoder();
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== CENTRAL) return { ok: false, reason: 'corrupt' };
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const compressedSize = view.getUint32(p + 20, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const localOffset = view.getUint32(p + 42, true);
    if (p + 46 + nameLen > bytes.length) return { ok: false, reason: 'corrupt' };
    // Bit 0: the entry is encrypted (a password-protected archive).
    if (flags & 1) return { ok: false, reason: 'encrypted' };
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    entries.push({ name, method, compressedSize, localOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return { ok: true, value: entries };
}

/** Shared between the entries of one document: every part inflated counts against one budget. */
export interface InflateBudget {
  remaining: number;
}

/** One entry's bytes, inflated within the budget. */
export function readEntry(bytes: Uint8Array, entry: ZipEntry, budget: InflateBudget): ZipResult<Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = entry.localOffset;
  if (at + 30 > bytes.length || view.getUint32(at, true) !== LOCAL) return { ok: false, reason: 'corrupt' };
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const end = start + entry.compressedSize;
  if (end > bytes.length) return { ok: false, reason: 'corrupt' };
  const data = bytes.subarray(start, end);
  if (entry.method === 0) {
    if (data.length > budget.remaining) return { ok: false, reason: 'limit' };
    budget.remaining -= data.length;
    return { ok: true, value: data };
  }
  if (entry.method !== 8) return { ok: false, reason: 'corrupt' };
  const chunks: Uint8Array[] = [];
  let size = 0;
  let over = false;
  const inflater = new Inflate((chunk) => {
    if (over) return;
    size += chunk.length;
    if (size > budget.remaining) {
      over = true;
      return;
    }
    chunks.push(chunk);
  });
  try {
    // Fed in slices, so a bomb is stopped after one slice's output (deflate inflates at most ~1032:1) past the budget.
    const SLICE = 4 * 1024;
    for (let i = 0; i < data.length && !over; i += SLICE) {
      inflater.push(data.subarray(i, Math.min(i + SLICE, data.length)), i + SLICE >= data.length);
    }
  } catch {
    return { ok: false, reason: 'corrupt' };
  }
  if (over) return { ok: false, reason: 'limit' };
  budget.remaining -= size;
  const out = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return { ok: true, value: out };
}
