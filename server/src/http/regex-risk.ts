// Admins' custom patterns run over every message on the server's one event loop (and in the
// add-ins): a pattern that backtracks catastrophically stalls every send of every practice. The
// policy route refuses the shapes that do: a repeated group that itself holds a repetition
// ((a+)+, (\w*)*), and a repeated group with alternatives that can match the same text
// ((a|ab)+, (\w|\d)*), where a failing match tries every way of splitting the input between the
// branches. A conservative syntactic check, not a proof of linear time.

interface Group {
  /** A repetition of variable length (+, *, {n,}, {n,m}) occurs inside. */
  repeats: boolean;
  /** The group has alternatives (a top-level |). */
  alternatives: boolean;
  /** Every branch so far is one literal character, all different ((?:-|\.)): a character class. */
  distinctChars: boolean;
  /** Atoms in the current branch. */
  atoms: number;
  /** The current branch's one literal character, or null. */
  char: string | null;
  chars: Set<string>;
}

// An escape that stands for a class of characters or an assertion, not one literal character.
const CLASS_ESCAPE = /^[dDwWsSbBpPkK1-9]$/;
// A quantifier that repeats more than once: +, *, {n,} and {n,m} with m > 1.
const REPEAT_AFTER = /^(?:[+*]|\{\d*,\d*\}|\{\d{2,}\}|\{[2-9]\})/;

/** Whether a regex source has a repetition shape that can take exponential time (see above). */
export function hasCatastrophicRepetition(source: string): boolean {
  const groups: Group[] = [];
  let inClass = false;
  const top = (): Group | undefined => groups[groups.length - 1];
  // An atom in the current group's branch; `char` when it is one literal character.
  const atom = (char: string | null): void => {
    const g = top();
    if (!g) return;
    g.atoms++;
    g.char = g.atoms === 1 ? char : null;
  };
  const endBranch = (g: Group): void => {
    if (g.atoms !== 1 || g.char === null || g.chars.has(g.char)) g.distinctChars = false;
    else g.chars.add(g.char);
    g.atoms = 0;
    g.char = null;
  };
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    if (inClass) {
      if (ch === '\\') i++;
      else if (ch === ']') inClass = false;
      continue;
    }
    if (ch === '\\') {
      const next = source[i + 1] ?? '';
      i++;
      if (next === 'p' || next === 'P' || next === 'k') {
        // \p{...}, \k<name>: skip the braces or brackets.
        const close = source.indexOf(next === 'k' ? '>' : '}', i);
        if (close > i) i = close;
      }
      atom(CLASS_ESCAPE.test(next) ? null : `\\${next}`);
      continue;
    }
    if (ch === '[') {
      inClass = true;
      atom(null);
    } else if (ch === '(') {
      atom(null);
      groups.push({
        repeats: false,
        alternatives: false,
        distinctChars: true,
        atoms: 0,
        char: null,
        chars: new Set(),
      });
      // (?:, (?=, (?!, (?<=, (?<!, (?<name>: the group's kind, not atoms.
      if (source[i + 1] === '?') {
        if (source[i + 2] === '<' && source[i + 3] !== '=' && source[i + 3] !== '!') {
          const close = source.indexOf('>', i);
          i = close > i ? close : i + 2;
        } else i += source[i + 2] === '<' ? 3 : 2;
      }
    } else if (ch === '|') {
      const g = top();
      if (g) {
        endBranch(g);
        g.alternatives = true;
      }
    } else if (ch === ')') {
      const g = groups.pop();
      if (!g) continue;
      endBranch(g);
      const repeated = REPEAT_AFTER.test(source.slice(i + 1));
      if (repeated && g.repeats) return true;
      if (repeated && g.alternatives && !g.distinctChars) return true;
      const parent = top();
      if (parent && (g.repeats || repeated)) parent.repeats = true;
    } else if (ch === '+' || ch === '*' || ch === '?' || ch === '{') {
      const g = top();
      if (ch === '{' && !/^\{\d*,?\d*\}/.test(source.slice(i))) {
        atom('{');
        continue;
      }
      if (g) {
        // A quantified atom is no longer one literal character. What makes a repeated group
        // ambiguous is a repetition of variable length inside it ({4} is just four of them).
        g.char = null;
        if (ch === '+' || ch === '*' || (ch === '{' && !/^\{(\d+)(?:,\1)?\}/.test(source.slice(i))))
          g.repeats = true;
      }
      if (ch === '{') i = source.indexOf('}', i);
      else if (source[i + 1] === '?') i++; // lazy
    } else if (ch === '^' || ch === '$') {
      // Assertions match no character.
    } else {
      atom(ch === '.' ? null : ch);
    }
  }
  return false;
}
