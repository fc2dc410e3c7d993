import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseJsonlLine, splitAddressList } from './scan.ts';
import { makeDocx, makePdf } from '../attachments/testing.ts';

// The command is tested as users run it: the real `attune` binary in a child process.
const BIN = fileURLToPath(new URL('../../bin/attune.mjs', import.meta.url));

function attune(
  args: string[],
  input: string | Buffer = '',
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'attune-scan-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const NOTE = 'Dear Jane Roe,\nYour depression screening is back; we will adjust the sertraline on Tuesday.\n';

describe('attune scan --jsonl', () => {
  it('writes exactly {id, decision, findings[{field,type,start,end,text,confidence}]} per input line', async () => {
    const input =
      [
        JSON.stringify({ id: 'a', text: NOTE }),
        JSON.stringify({
          id: 7,
          subject: 'PTSD follow-up for Jane Roe',
          body: 'See you Tuesday.',
          to: 'jroe@gmail.com',
        }),
        JSON.stringify({ id: 'c', text: 'Lunch at noon?' }),
      ].join('\n') + '\n';
    const r = await attune(['scan', '--jsonl'], input);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    for (const l of lines) {
      expect(Object.keys(l)).toEqual(['id', 'decision', 'findings']);
      for (const f of l.findings)
        expect(Object.keys(f)).toEqual(['field', 'type', 'start', 'end', 'text', 'confidence']);
    }
    expect(lines.map((l) => l.id)).toEqual(['a', 7, 'c']);
    expect(lines[0].decision).toBe('encrypt');
    for (const f of lines[0].findings) {
      expect(f.field).toBe('body');
      expect(NOTE.slice(f.start, f.end)).toBe(f.text);
    }
    const subject = 'PTSD follow-up for Jane Roe';
    const subj = lines[1].findings.filter((f: { field: string }) => f.field === 'subject');
    expect(subj.length).toBeGreaterThan(0);
    for (const f of subj) expect(subject.slice(f.start, f.end)).toBe(f.text);
    expect(lines[1].decision).toBe('encrypt');
    expect(lines[2]).toEqual({ id: 'c', decision: 'allow', findings: [] });
  });

  it('answers a bad line with an error code for that line, goes on, and exits 1', async () => {
    const input = [
      '{"id":"ok1","text":"hello"}',
      '{not json',
      '[1,2]',
      '{"text":"no id"}',
      '{"id":"t","text":42}',
      '',
      '{"id":"ok2","text":"Jane Roe has bipolar disorder."}',
    ].join('\n');
    const r = await attune(['scan', '--jsonl'], input);
    expect(r.code).toBe(1);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id ?? null)).toEqual(['ok1', null, null, null, 't', 'ok2']);
    expect(lines.slice(1, 5).map((l) => l.error)).toEqual([
      'invalid_json',
      'invalid_input',
      'invalid_id',
      'invalid_input',
    ]);
    expect(lines[1].line).toBe(2);
    expect(lines[5].decision).toBe('encrypt');
    expect(r.stderr).toMatch(/<stdin>:2: invalid_json/);
    // Error messages never echo the line's content.
    expect(r.stderr).not.toContain('no id');
  });

  it('streams a large input in order', async () => {
    const n = 400;
    const input = Array.from({ length: n }, (_, i) =>
      JSON.stringify({ id: i, text: i % 2 ? NOTE : 'See you at the staff meeting.' }),
    ).join('\n');
    const r = await attune(['scan', '--jsonl'], input);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(lines.filter((l) => l.decision === 'encrypt')).toHaveLength(n / 2);
  });
});

describe('attune scan FILE', () => {
  it('prints the decision, reasons and findings for each file, human-readable', async () => {
    const a = join(dir, 'note.txt');
    const b = join(dir, 'lunch.txt');
    await writeFile(a, NOTE);
    await writeFile(b, 'Lunch at noon on Friday?');
    const r = await attune(['scan', a, b]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${a}: ENCRYPT`);
    expect(r.stdout).toMatch(/Names a patient .*depression/);
    expect(r.stdout).toMatch(/body \d+-\d+ +NAME/);
    expect(r.stdout).toContain(`${b}: ALLOW`);
  });

  it('reads stdin when no file is given, and prints JSON with --json', async () => {
    const r = await attune(['scan', '--json'], NOTE);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.inputs).toHaveLength(1);
    expect(doc.inputs[0]).toMatchObject({ source: '<stdin>', decision: 'encrypt', phi: true });
    for (const f of doc.inputs[0].findings) expect(NOTE.slice(f.start, f.end)).toBe(f.text);
  });

  it('scans an .html file as an HTML body, with offsets into the HTML', async () => {
    const html =
      '<html><body><p>Dear <b>Jane</b> Roe,</p><p>About your PTSD &amp; EMDR: call 617-555-0143.</p></body></html>';
    const file = join(dir, 'mail.html');
    await writeFile(file, html);
    const r = await attune(['scan', '--json', file]);
    const doc = JSON.parse(r.stdout);
    const findings = doc.inputs[0].findings as { start: number; end: number; text: string; type: string }[];
    expect(findings.length).toBeGreaterThan(0);
    for (const f of findings) expect(html.slice(f.start, f.end)).toBe(f.text);
    expect(findings.some((f) => f.type === 'PHONE' && f.text === '617-555-0143')).toBe(true);
  });

  it('scans an .eml file as a whole message: subject, recipients, body and text attachments', async () => {
    const eml = [
      'From: Dr Alice Morgan <alice@sunrise-therapy.org>',
      'To: Jane Roe <jroe@gmail.com>',
      'Subject: Your PTSD workbook',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Here is the workbook we talked about.',
      '--b1',
      'Content-Type: text/plain; name="plan.txt"',
      'Content-Disposition: attachment; filename="plan.txt"',
      '',
      'Safety plan: sertraline 50 mg daily.',
      '--b1--',
      '',
    ].join('\r\n');
    const file = join(dir, 'message.eml');
    await writeFile(file, eml);
    const r = await attune(['scan', '--json', file]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    const fields = new Set((doc.inputs[0].findings as { field: string }[]).map((f) => f.field));
    expect(fields).toEqual(new Set(['subject', 'to', 'attachment:0']));
    expect(doc.inputs[0].decision).toBe('encrypt');
  });

  it('reads the contents of PDF and Office attachments of an .eml, and names those it cannot read', async () => {
    const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64').replace(/.{76}/g, '$&\r\n');
    const part = (name: string, type: string, bytes: Uint8Array) => [
      '--b1',
      `Content-Type: ${type}; name="${name}"`,
      `Content-Disposition: attachment; filename="${name}"`,
      'Content-Transfer-Encoding: base64',
      '',
      b64(bytes),
    ];
    const eml = [
      'From: Dr Alice Morgan <alice@sunrise-therapy.org>',
      'To: records@other-clinic.example',
      'Subject: Documents',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Please find the documents attached.',
      ...part(
        'summary.docx',
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
        makeDocx(['Client: John Smith', 'Diagnosis: posttraumatic stress disorder (F43.10)']),
      ),
      ...part('locked.pdf', 'application/pdf', makePdf([['Jane Doe']], { encrypted: true })),
      '--b1--',
      '',
    ].join('\r\n');
    const file = join(dir, 'documents.eml');
    await writeFile(file, eml);
    const r = await attune(['scan', '--json', file]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout).inputs[0];
    const inDocx = (doc.findings as { field: string; type: string }[]).filter(
      (f) => f.field === 'attachment:0',
    );
    expect(inDocx.map((f) => f.type)).toEqual(expect.arrayContaining(['NAME', 'ICD10']));
    expect(doc.decision).toBe('encrypt');
    expect(doc.unreadable).toEqual([{ attachment: 'locked.pdf', reason: 'encrypted' }]);

    const human = await attune(['scan', file]);
    expect(human.stdout).toContain('attachment "locked.pdf": contents not read (encrypted)');
  });

  it("scans a PDF given as a file (or on stdin) as an attachment's text", async () => {
    const pdf = makePdf([
      ['Intake form', 'Patient: Jane Doe, date of birth 03/14/1985', 'Diagnosis: bipolar I disorder'],
    ]);
    const file = join(dir, 'intake.pdf');
    await writeFile(file, pdf);
    for (const r of [await attune(['scan', '--json', file]), await attune(['scan', '--json'], pdf)]) {
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.stdout).inputs[0];
      const types = (doc.findings as { field: string; type: string }[]).map((f) => `${f.field} ${f.type}`);
      expect(types).toEqual(expect.arrayContaining(['attachment:0 NAME', 'attachment:0 DATE']));
      expect(doc.phi).toBe(true);
    }
  });

  it('reports an unreadable file on stderr, scans the others, and exits 1', async () => {
    const ok = join(dir, 'ok.txt');
    await writeFile(ok, 'hello');
    const r = await attune(['scan', join(dir, 'missing.txt'), ok]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing\.txt: cannot read \(ENOENT\)/);
    expect(r.stdout).toContain(`${ok}: ALLOW`);
  });

  it('applies a policy file, and exits 2 on an invalid one or an unknown option', async () => {
    const optIn = join(dir, 'opt-in.json');
    await writeFile(optIn, JSON.stringify({ mode: 'opt_in' }));
    const warned = await attune(
      ['scan', '--jsonl', '--policy', optIn],
      JSON.stringify({ id: 1, text: NOTE }),
    );
    expect(JSON.parse(warned.stdout).decision).toBe('warn');

    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ customPatterns: ['(unclosed'] }));
    const r = await attune(['scan', '--policy', bad], NOTE);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/customPatterns\.0: Not a valid regular expression/);

    const u = await attune(['scan', '--bogus']);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('unknown option --bogus');
  });
});

describe('parseJsonlLine', () => {
  it('accepts both documented shapes and refuses ambiguous or oversized lines', () => {
    expect(parseJsonlLine('{"id":"x","text":"hi"}')).toMatchObject({
      ok: true,
      id: 'x',
      message: { body: 'hi' },
    });
    expect(parseJsonlLine('{"id":1,"subject":"s","body":"b","to":["a@b.c"]}')).toMatchObject({
      ok: true,
      message: { subject: 's', body: 'b', to: ['a@b.c'] },
    });
    expect(parseJsonlLine('{"id":"x","text":"a","body":"b"}')).toMatchObject({
      ok: false,
      id: 'x',
      error: 'invalid_input',
    });
    expect(parseJsonlLine('{"id":"x"}')).toMatchObject({ ok: false, error: 'invalid_input' });
    expect(parseJsonlLine('{"id":"x","to":[1]}')).toMatchObject({ ok: false, error: 'invalid_input' });
    expect(parseJsonlLine('x'.repeat(5_000_001))).toMatchObject({ ok: false, error: 'too_large' });
  });
});

describe('splitAddressList', () => {
  it('splits at commas and semicolons outside quoted display names and angle brackets', () => {
    expect(splitAddressList('a@x.org, "Roe, Jane" <j@y.com>; b@z.org,,')).toEqual([
      'a@x.org',
      '"Roe, Jane" <j@y.com>',
      'b@z.org',
    ]);
  });
});
