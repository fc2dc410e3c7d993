// Decoder for the front-coded word lists in this folder: "0aaron2ons" is ["aaron", "aarons"].
export function decodeFrontCoded(s: string, into: Set<string> = new Set()): Set<string> {
  let prev = '';
  let i = 0;
  while (i < s.length) {
    const p = s.charCodeAt(i) - 48;
    let j = i + 1;
    while (j < s.length) {
      const c = s.charCodeAt(j);
      if (c >= 48 && c <= 57) break;
      j++;
    }
    const w = prev.slice(0, p) + s.slice(i + 1, j);
    into.add(w);
    prev = w;
    i = j;
  }
  return into;
}
