// Check-digit and shape validators. Each is a pure function over a string, no allocation beyond a
// few small locals, so recognizers can call them on every candidate without cost.

/** Digits only (drops spaces, dashes, dots). */
export function digitsOf(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) out += s[i];
  }
  return out;
}

/** Luhn (ISO/IEC 7812) over a digit string: credit cards, IMEI, NPI (with prefix). */
export function luhnValid(digits: string): boolean {
  if (digits.length < 2) return false;
  let sum = 0;
  let dbl = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 === 0;
}

/**
 * SSA rules: area 000, 666 and 900-999 are never issued; group 00 and serial 0000 never.
 * Also rejects the well-known advertising number 078-05-1120 and 123-45-6789.
 */
export function ssnValid(s: string): boolean {
  const d = digitsOf(s);
  if (d.length !== 9) return false;
  const area = +d.slice(0, 3);
  const group = +d.slice(3, 5);
  const serial = +d.slice(5);
  if (area === 0 || area === 666 || area >= 900) return false;
  if (group === 0 || serial === 0) return false;
  if (d === '078051120' || d === '123456789') return false;
  return true;
}

/** NANP: area code and exchange start 2-9; N11 service codes are not areas. */
export function nanpValid(s: string): boolean {
  let d = digitsOf(s);
  if (d.length === 11 && d[0] === '1') d = d.slice(1);
  if (d.length !== 10) return false;
  const a0 = d.charCodeAt(0) - 48;
  const e0 = d.charCodeAt(3) - 48;
  if (a0 < 2 || e0 < 2) return false;
  if (d[1] === '1' && d[2] === '1') return false;
  return true;
}

/** NPI: 10 digits, Luhn over "80840" + the first 9 digits gives the 10th (CMS NPI standard). */
export function npiValid(s: string): boolean {
  const d = digitsOf(s);
  if (d.length !== 10 || (d[0] !== '1' && d[0] !== '2')) return false;
  return luhnValid('80840' + d);
}

/**
 * DEA registration: 2 letters + 7 digits; (d1+d3+d5) + 2*(d2+d4+d6) last digit equals d7.
 * First letter is the registrant type (A-G, H, J-L, M, P-U, X).
 */
export function deaValid(s: string): boolean {
  if (!/^[ABCDEFGHJKLMPRSTUX][A-Z9][0-9]{7}$/i.test(s)) return false;
  const d = s.slice(2);
  const n = (i: number): number => d.charCodeAt(i) - 48;
  const sum = n(0) + n(2) + n(4) + 2 * (n(1) + n(3) + n(5));
  return sum % 10 === n(6);
}

const VIN_VALUES: Record<string, number> = {
  A: 1,
  B: 2,
  C: 3,
  D: 4,
  E: 5,
  F: 6,
  G: 7,
  H: 8,
  J: 1,
  K: 2,
  L: 3,
  M: 4,
  N: 5,
  P: 7,
  R: 9,
  S: 2,
  T: 3,
  U: 4,
  V: 5,
  W: 6,
  X: 7,
  Y: 8,
  Z: 9,
};
const VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

/** VIN (ISO 3779 / 49 CFR 565): 17 chars without I, O, Q; position 9 is the check digit. */
export function vinValid(s: string): boolean {
  const v = s.toUpperCase();
  if (!/^[A-HJ-NPR-Z0-9]{17}$/.test(v)) return false;
  let sum = 0;
  for (let i = 0; i < 17; i++) {
    const ch = v[i] as string;
    const val = ch >= '0' && ch <= '9' ? ch.charCodeAt(0) - 48 : (VIN_VALUES[ch] ?? 0);
    sum += val * (VIN_WEIGHTS[i] as number);
  }
  const r = sum % 11;
  const check = r === 10 ? 'X' : String(r);
  return v[8] === check;
}

/** UK NHS number: 10 digits, mod-11 with weights 10..2; remainder 10 is invalid. */
export function nhsValid(s: string): boolean {
  const d = digitsOf(s);
  if (d.length !== 10) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += (d.charCodeAt(i) - 48) * (10 - i);
  let check = 11 - (sum % 11);
  if (check === 11) check = 0;
  if (check === 10) return false;
  return check === d.charCodeAt(9) - 48;
}

/** IBAN: ISO 13616 mod-97 = 1. */
export function ibanValid(s: string): boolean {
  const v = s.replace(/\s+/g, '').toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$/.test(v)) return false;
  const r = v.slice(4) + v.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < r.length; i++) {
    const c = r.charCodeAt(i);
    const val = c >= 65 ? String(c - 55) : r[i];
    for (let j = 0; j < (val as string).length; j++)
      rem = (rem * 10 + ((val as string).charCodeAt(j) - 48)) % 97;
  }
  return rem === 1;
}

/** Real calendar date (Gregorian leap years). */
export function calendarValid(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  const dim = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] as number;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return day <= (month === 2 && leap ? 29 : dim);
}

/** Dotted-quad IPv4 with each octet 0-255 and no leading zeros beyond "0". */
export function ipv4Valid(s: string): boolean {
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return false;
    if (p.length > 1 && p[0] === '0') return false;
    if (+p > 255) return false;
  }
  return true;
}

/** IPv6 (RFC 4291 text forms): up to 8 groups, at most one "::", optional trailing IPv4. */
export function ipv6Valid(s: string): boolean {
  if (s.length < 2 || s.length > 45) return false;
  let str = s;
  let groupsAllowed = 8;
  const lastColon = str.lastIndexOf(':');
  const tail = str.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!ipv4Valid(tail)) return false;
    str = str.slice(0, lastColon + 1) + '0';
    groupsAllowed = 7;
  }
  const dbl = str.indexOf('::');
  if (dbl !== str.lastIndexOf('::')) return false;
  const hex = /^[0-9a-f]{1,4}$/i;
  if (dbl >= 0) {
    const left = str.slice(0, dbl);
    const right = str.slice(dbl + 2);
    const l = left === '' ? [] : left.split(':');
    const r = right === '' ? [] : right.split(':');
    if (l.length + r.length > groupsAllowed - 1) return false;
    return l.every((g) => hex.test(g)) && r.every((g) => hex.test(g));
  }
  const g = str.split(':');
  return g.length === groupsAllowed && g.every((x) => hex.test(x));
}

/** US ZIP or ZIP+4: 5 digits, optional -4; 00000 and +0000 are not assigned. */
export function zipValid(s: string): boolean {
  const m = /^(\d{5})(?:-(\d{4}))?$/.exec(s);
  if (!m) return false;
  if (m[1] === '00000') return false;
  if (m[2] === '0000') return false;
  return true;
}
