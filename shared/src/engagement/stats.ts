// Small, dependency-free statistics. Every function takes plain arrays and never mutates them.

/** Quantile of an ascending array, linear interpolation between order statistics (R type 7). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  const pos = (n - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

export function quantile(xs: readonly number[], q: number): number | null {
  return quantileSorted(Float64Array.from(xs).sort(), q);
}

export function median(xs: readonly number[]): number | null {
  return quantile(xs, 0.5);
}

export function mean(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

export function sd(xs: readonly number[]): number | null {
  const m = mean(xs);
  if (m === null || xs.length < 2) return null;
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return Math.sqrt(s / (xs.length - 1));
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export interface CircularSummary {
  /** Mean direction as an hour of day, 0 <= h < 24. */
  meanHour: number;
  /** Mean resultant length R: 0 = spread round the clock, 1 = always the same time. */
  resultantLength: number;
  n: number;
  /** Rayleigh test p-value for "no preferred hour" (uniform); small = a real preference. */
  rayleighP: number;
}

/** Circular statistics of hours of day (angles 2*pi*h/24), optionally weighted. */
export function circularHours(hours: readonly number[], weights?: readonly number[]): CircularSummary | null {
  if (hours.length === 0) return null;
  let c = 0;
  let s = 0;
  let w = 0;
  for (let i = 0; i < hours.length; i++) {
    const a = ((hours[i] as number) / 24) * 2 * Math.PI;
    const wi = weights ? (weights[i] as number) : 1;
    c += wi * Math.cos(a);
    s += wi * Math.sin(a);
    w += wi;
  }
  if (w <= 0) return null;
  const r = Math.sqrt(c * c + s * s) / w;
  let mh = (Math.atan2(s, c) / (2 * Math.PI)) * 24;
  if (mh < 0) mh += 24;
  return { meanHour: mh, resultantLength: r, n: hours.length, rayleighP: rayleighP(hours.length, r) };
}

/** Rayleigh test p-value (Zar, Biostatistical Analysis, eq. 27.4 approximation). */
export function rayleighP(n: number, r: number): number {
  if (n < 2) return 1;
  const z = n * r * r;
  const p = Math.exp(Math.sqrt(1 + 4 * n + 4 * (n * n - n * n * r * r)) - (1 + 2 * n));
  return Math.min(1, Math.max(0, Number.isFinite(p) ? p : Math.exp(-z)));
}

/** Circular distance between two hours of day, 0..12. */
export function hourDistance(a: number, b: number): number {
  const d = Math.abs((((a - b) % 24) + 24) % 24);
  return Math.min(d, 24 - d);
}

/** Whether hour `h` (0..24) falls in the 3-hour window starting at integer hour `start` (wraps midnight). */
export function inWindow(h: number, start: number, width = 3): boolean {
  const k = Math.floor(h) % 24;
  return (k - start + 24) % 24 < width;
}
