import { strToU8, zipSync, type Zippable } from 'fflate';

// Documents made in the test, never copied: a PDF written by hand (PDF 1.4, one Helvetica text
// object per line), and OOXML/ODF packages zipped with fflate with just the parts a reader needs.

function pdfString(s: string): string {
  return `(${s.replace(/[\\()]/g, (m) => '\\' + m)})`;
}

export interface PdfOptions {
  /** A Standard security handler whose user password is not empty (PDF.js asks for a password). */
  encrypted?: boolean;
  /** Pages drawn as a filled rectangle only, no text (a scanned page, as far as text goes). */
  imageOnly?: boolean;
}

/** A PDF with one page per entry, each line of the page a text line. */
export function makePdf(pages: readonly (readonly string[])[], opts: PdfOptions = {}): Buffer {
  const objs: string[] = [];
  const add = (s: string): number => objs.push(s);
  const font = add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  const pagesId = add('');
  const kids: number[] = [];
  for (const lines of pages) {
    const content = opts.imageOnly
      ? '0.5 g 72 72 468 648 re f'
      : `BT /F1 11 Tf 72 720 Td 14 TL ${lines.map((l) => `${pdfString(l)} Tj T*`).join(' ')} ET`;
    const c = add(`<< /Length ${content.length} >>\nstream\n${content}\nendstream`);
    kids.push(
      add(
        `<< /Type /Page /Parent ${pagesId} 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 ${font} 0 R >> >> /Contents ${c} 0 R >>`,
      ),
    );
  }
  objs[pagesId - 1] =
    `<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${kids.length} >>`;
  const catalog = add(`<< /Type /Catalog /Pages ${pagesId} 0 R >>`);
  const hex = (n: number, seed: number) =>
    Array.from({ length: n }, (_, i) => ((i * 37 + seed) % 256).toString(16).padStart(2, '0')).join('');
  const encrypt = opts.encrypted
    ? add(`<< /Filter /Standard /V 1 /R 2 /O <${hex(32, 11)}> /U <${hex(32, 99)}> /P -44 >>`)
    : 0;
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objs.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  out += offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
  const trailerExtra = encrypt ? ` /Encrypt ${encrypt} 0 R /ID [<${hex(16, 5)}> <${hex(16, 5)}>]` : '';
  out += `trailer\n<< /Size ${objs.length + 1} /Root ${catalog} 0 R${trailerExtra} >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function zip(files: Record<string, string | Uint8Array>): Buffer {
  const z: Zippable = {};
  for (const [name, v] of Object.entries(files)) z[name] = typeof v === 'string' ? strToU8(v) : v;
  return Buffer.from(zipSync(z, { level: 6 }));
}

const CT =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>';

/** A DOCX whose body is these paragraphs (a paragraph split at "\t" becomes runs with a tab). */
export function makeDocx(paragraphs: readonly string[]): Buffer {
  const body = paragraphs
    .map(
      (p) =>
        `<w:p><w:r>${p
          .split('\t')
          .map((t) => `<w:t xml:space="preserve">${esc(t)}</w:t>`)
          .join('<w:tab/>')}</w:r></w:p>`,
    )
    .join('');
  return zip({
    '[Content_Types].xml': CT,
    'word/document.xml': `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${body}</w:body></w:document>`,
  });
}

/** An XLSX of one sheet: strings go to sharedStrings, numbers stay in the cells. */
export function makeXlsx(rows: readonly (readonly (string | number)[])[]): Buffer {
  const strings: string[] = [];
  const sheetRows = rows
    .map(
      (r, ri) =>
        `<row r="${ri + 1}">${r
          .map((v, ci) => {
            const ref = `${String.fromCharCode(65 + ci)}${ri + 1}`;
            if (typeof v === 'number') return `<c r="${ref}"><v>${v}</v></c>`;
            strings.push(v);
            return `<c r="${ref}" t="s"><v>${strings.length - 1}</v></c>`;
          })
          .join('')}</row>`,
    )
    .join('');
  return zip({
    '[Content_Types].xml': CT,
    'xl/workbook.xml': '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>',
    'xl/sharedStrings.xml': `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">${strings
      .map((s) => `<si><t>${esc(s)}</t></si>`)
      .join('')}</sst>`,
    'xl/worksheets/sheet1.xml': `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>${sheetRows}</sheetData></worksheet>`,
  });
}

/** A PPTX with one slide per entry. */
export function makePptx(slides: readonly string[]): Buffer {
  const files: Record<string, string> = {
    '[Content_Types].xml': CT,
    'ppt/presentation.xml':
      '<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>',
  };
  slides.forEach((s, i) => {
    files[`ppt/slides/slide${i + 1}.xml`] =
      `<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>${esc(s)}</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>`;
  });
  return zip(files);
}

/** An OpenDocument text (ODT) with these paragraphs. */
export function makeOdt(paragraphs: readonly string[]): Buffer {
  return zip({
    mimetype: 'application/vnd.oasis.opendocument.text',
    'content.xml': `<office:document-content xmlns:office="o" xmlns:text="t"><office:body><office:text>${paragraphs
      .map((p) => `<text:p>${esc(p)}</text:p>`)
      .join('')}</office:text></office:body></office:document-content>`,
  });
}

/** A DOCX whose document.xml inflates to `bytes` (a zip bomb: ~1000:1). */
export function makeZipBomb(bytes: number): Buffer {
  const filler = new Uint8Array(bytes).fill(0x20);
  return Buffer.from(
    zipSync({ '[Content_Types].xml': strToU8(CT), 'word/document.xml': filler }, { level: 9 }),
  );
}
