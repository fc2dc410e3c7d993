// A small strict XML parser for the manifest tests (no XML library is a dependency): elements,
// attributes, comments, processing instructions, text and the predefined and numeric entities.
// It throws on anything not well-formed: unclosed or mismatched tags, duplicate attributes, "--"
// inside a comment, bare "&" or "<", text outside the root, more than one root.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /[A-Za-z_][\w.:-]*/y;

export function parseXml(src: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  const fail = (msg: string): never => {
    const line = src.slice(0, i).split('\n').length;
    throw new Error(`XML: ${msg} at line ${line}`);
  };
  const decode = (s: string): string =>
    s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);|&/gi, (m, ent: string | undefined) => {
      if (!ent) return fail('bare "&"');
      if (ent[0] === '#')
        return String.fromCodePoint(
          ent[1] === 'x' || ent[1] === 'X' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10),
        );
      const known: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
      return known[ent] ?? fail(`unknown entity &${ent};`);
    });
  const readName = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(src);
    if (!m) return fail('expected a name');
    i += m[0].length;
    return m[0];
  };
  const skipWs = () => {
    while (i < src.length && /\s/.test(src[i]!)) i++;
  };

  if (src.charCodeAt(0) === 0xfeff) i = 1;
  while (i < src.length) {
    if (src.startsWith('<?', i)) {
      const end = src.indexOf('?>', i);
      if (end < 0) fail('unterminated processing instruction');
      i = end + 2;
    } else if (src.startsWith('<!--', i)) {
      const end = src.indexOf('-->', i + 4);
      if (end < 0) fail('unterminated comment');
      if (src.slice(i + 4, end).includes('--')) fail('"--" inside a comment');
      i = end + 3;
    } else if (src.startsWith('<![CDATA[', i)) {
      const end = src.indexOf(']]>', i);
      if (end < 0 || stack.length === 0) fail('bad CDATA');
      stack[stack.length - 1]!.text += src.slice(i + 9, end);
      i = end + 3;
    } else if (src.startsWith('<!', i)) {
      fail('DOCTYPE/declarations are not expected in a manifest');
    } else if (src.startsWith('</', i)) {
      i += 2;
      const name = readName();
      skipWs();
      if (src[i] !== '>') fail('expected ">"');
      i++;
      const open = stack.pop();
      if (!open || open.name !== name) fail(`mismatched </${name}>`);
    } else if (src[i] === '<') {
      i++;
      const el: XmlElement = { name: readName(), attrs: {}, children: [], text: '' };
      for (;;) {
        const before = i;
        skipWs();
        if (src.startsWith('/>', i) || src[i] === '>') break;
        if (i === before) fail('expected whitespace before an attribute');
        const an = readName();
        skipWs();
        if (src[i] !== '=') fail('expected "="');
        i++;
        skipWs();
        const q = src[i];
        if (q !== '"' && q !== "'") return fail('expected a quoted attribute value');
        const end = src.indexOf(q, i + 1);
        if (end < 0) fail('unterminated attribute');
        const raw = src.slice(i + 1, end);
        if (raw.includes('<')) fail('"<" in an attribute value');
        if (an in el.attrs) fail(`duplicate attribute ${an}`);
        el.attrs[an] = decode(raw);
        i = end + 1;
      }
      if (stack.length === 0) {
        if (root) fail('more than one root element');
        root = el;
      } else stack[stack.length - 1]!.children.push(el);
      if (src.startsWith('/>', i)) i += 2;
      else {
        i++;
        stack.push(el);
      }
    } else {
      const end = src.indexOf('<', i);
      const text = src.slice(i, end < 0 ? src.length : end);
      if (stack.length === 0) {
        if (text.trim()) fail('text outside the root element');
      } else stack[stack.length - 1]!.text += decode(text);
      i = end < 0 ? src.length : end;
    }
  }
  if (stack.length > 0) fail(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (!root) return fail('no root element');
  return root;
}

export function* walk(
  el: XmlElement,
  path: XmlElement[] = [],
): Generator<{ el: XmlElement; path: XmlElement[] }> {
  yield { el, path };
  for (const c of el.children) yield* walk(c, [...path, el]);
}

export function localName(name: string): string {
  return name.includes(':') ? name.slice(name.indexOf(':') + 1) : name;
}
