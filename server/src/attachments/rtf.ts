// The text of an RTF document (RTF 1.9.1): control words dropped, \par and \line as line breaks,
// \tab as a space, \'hh and \uN decoded, and the destinations that hold no body text skipped
// (font and colour tables, stylesheet, pictures, document info, and any \* destination).

const SKIP = new Set([
  'fonttbl',
  'colortbl',
  'stylesheet',
  'listtable',
  'listoverridetable',
  'pict',
  'object',
  'themedata',
  'colorschememapping',
  'datastore',
  'latentstyles',
  'rsidtbl',
  'generator',
  'xmlnstbl',
  'mmathPr',
]);

export function rtfText(src: string, maxChars: number): { text: string; truncated: boolean } {
  let out = '';
  // Per group: whether its text is skipped, and how many characters follow a \uN (\ucN, default 1).
  const stack: Array<{ skip: boolean; uc: number }> = [];
  let skip = false;
  let uc = 1;
  let pendingSkip = 0;
  let i = 0;
  const n = src.length;
  const emit = (s: string) => {
    if (pendingSkip > 0) {
      pendingSkip--;
      return;
    }
    if (!skip) out += s;
  };
  while (i < n && out.length <= maxChars) {
    const c = src[i]!;
    if (c === '{') {
      stack.push({ skip, uc });
      i++;
      // {\*\dest …}: an optional destination, ignorable by readers that do not know it.
      if (src.startsWith('\\*', i)) skip = true;
    } else if (c === '}') {
      const top = stack.pop();
      if (top) ({ skip, uc } = top);
      i++;
    } else if (c === '\\') {
      const next = src[i + 1];
      if (next === undefined) break;
      if (next === "'") {
        const code = parseInt(src.slice(i + 2, i + 4), 16);
        if (!Number.isNaN(code)) emit(String.fromCharCode(code));
        i += 4;
        continue;
      }
      if (!/[a-z]/i.test(next)) {
        // Control symbols: \\ \{ \} literal, \~ non-breaking space, \- and \_ hyphens, others dropped.
        if (next === '\\' || next === '{' || next === '}') emit(next);
        else if (next === '~') emit(' ');
        else if (next === '_') emit('-');
        else if (next === '\n' || next === '\r') emit('\n');
        i += 2;
        continue;
      }
      const m = /^([a-z]{1,32})(-?\d{1,10})? ?/i.exec(src.slice(i + 1, i + 48));
      if (!m) {
        i++;
        continue;
      }
      const word = m[1]!;
      const arg = m[2] === undefined ? null : Number(m[2]);
      i += 1 + m[0].length;
      if (SKIP.has(word) || word === 'info') skip = true;
      else if (word === 'par' || word === 'line' || word === 'row' || word === 'sect' || word === 'page')
        emit('\n');
      else if (word === 'tab' || word === 'cell') emit(' ');
      else if (word === 'uc' && arg !== null) uc = Math.max(0, arg);
      else if (word === 'u' && arg !== null) {
        const code = arg < 0 ? arg + 65536 : arg;
        if (!skip) out += String.fromCharCode(code);
        pendingSkip = uc;
      }
    } else if (c === '\r' || c === '\n') {
      i++;
    } else {
      emit(c);
      i++;
    }
  }
  const truncated = out.length > maxChars || i < n;
  return { text: out.slice(0, maxChars), truncated };
}
