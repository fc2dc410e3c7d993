import { readEntry, zipEntries, type InflateBudget, type ZipEntry } from './zip.ts';
import type { ExtractLimits } from './limits.ts';
import type { Extracted } from './types.ts';

// The text of zip-based Office documents: OOXML (DOCX, XLSX, PPTX, ECMA-376) and OpenDocument
// (ODT, ODS, ODP, OASIS ODF 1.2). Both keep their text in XML parts; the parts are known by name,
// so no XML library is needed: paragraph, row and cell ends become line breaks and spaces, the
// remaining tags are dropped and the five XML entities and character references are decoded.

type Format = 'docx' | 'xlsx' | 'pptx' | 'odf';

/** Which parts hold the text, in reading order, for each format. */
function textParts(format: Format, entries: ZipEntry[]): ZipEntry[] {
  const byName = (re: RegExp) =>
    entries
      .filter((e) => re.test(e.name))
      .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  switch (format) {
    case 'docx':
      // The body, then headers, footers, footnotes, endnotes and comments (a note may name the patient).
      return [
        ...byName(/^word\/document\.xml$/),
        ...byName(/^word\/(header|footer)\d*\.xml$/),
        ...byName(/^word\/(footnotes|endnotes|comments)\.xml$/),
      ];
    case 'xlsx':
      // Shared strings (most cell text), then each sheet for inline strings and numbers (an MRN, a
      // date of birth as a number). A shared-string cell's <v> is an index: skipped in xmlText.
      return [...byName(/^xl\/sharedStrings\.xml$/), ...byName(/^xl\/worksheets\/sheet\d+\.xml$/)];
    case 'pptx':
      return [...byName(/^ppt\/slides\/slide\d+\.xml$/), ...byName(/^ppt\/notesSlides\/notesSlide\d+\.xml$/)];
    case 'odf':
      return [...byName(/^content\.xml$/), ...byName(/^styles\.xml$/)];
  }
}

function formatOf(entries: ZipEntry[]): Format | null {
  const names = new Set(entries.map((e) => e.name));
  if (names.has('word/document.xml')) return 'docx';
  if (names.has('xl/workbook.xml')) return 'xlsx';
  if (names.has('ppt/presentation.xml')) return 'pptx';
  if (names.has('content.xml') && names.has('mimetype')) return 'odf';
  return null;
}

/** Text of a zip-based document, or why it is unreadable (a zip that is no Office document included). */
export function officeText(bytes: Uint8Array, limits: ExtractLimits): Extracted {
  const listed = zipEntries(bytes, limits.maxZipEntries);
  if (!listed.ok) return { ok: false, reason: listed.reason };
  const format = formatOf(listed.value);
  if (!format) return { ok: false, reason: 'unsupported' };
  const budget: InflateBudget = { remaining: limits.maxInflatedBytes };
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let text = '';
  for (const part of textParts(format, listed.value)) {
    const read = readEntry(bytes, part, budget);
    if (!read.ok) return { ok: false, reason: read.reason };
    const xml = decoder.decode(read.value);
    text += xmlText(xml, format === 'xlsx' && part.name.startsWith('xl/worksheets/')) + '\n';
    if (text.length > limits.maxChars) {
      return { ok: true, text: text.slice(0, limits.maxChars), complete: false, reason: 'truncated' };
    }
  }
  return { ok: true, text, complete: true };
}

// Ends of a paragraph, line, row or list item in WordprocessingML, SpreadsheetML, DrawingML and ODF.
const BREAK =
  /<\/(?:w:p|a:p|text:p|text:h|row|table:table-row|text:list-item)>|<(?:w:br|w:cr|text:line-break|a:br)\b[^>]*\/?>/g;
// Ends of a cell or run of tabbed text: a space keeps "Jane" and "Doe" in two cells from reading "JaneDoe".
const SPACE = /<\/(?:c|table:table-cell|si)>|<(?:w:tab|text:tab|text:s)\b[^>]*\/?>/g;
// Every tag goes, not its text: a tracked deletion (w:delText) is still in the file, and still PHI.
const TAG = /<[^>]*>/g;

export function xmlText(xml: string, sheet = false): string {
  let s = xml;
  // In a sheet, the <v> of a shared-string cell (t="s") is an index into sharedStrings, not text.
  if (sheet) s = s.replace(/<c\b[^>]*\bt="s"[^>]*>[\s\S]*?<\/c>/g, ' ');
  // Drop the XML declaration, processing instructions and comments.
  s = s.replace(/<\?[\s\S]*?\?>|<!--[\s\S]*?-->/g, '');
  return decodeXml(s.replace(BREAK, '\n').replace(SPACE, ' ').replace(TAG, ''))
    .replace(/[ \t]+/g, ' ')
    .replace(/\n[ \t]+/g, '\n')
    .replace(/\n{3,}/g, '\n\n');
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeXml(s: string): string {
  return s.replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/gi, (all, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff)
        ? String.fromCodePoint(code)
        : ' ';
    }
    return NAMED[ref.toLowerCase()] ?? all;
  });
}
