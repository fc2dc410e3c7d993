// Preferred reply hours in the patient's own time zone, with circular statistics, and the best 3-hour
// window to send. The model is an empirical-Bayes posterior predictive distribution of the next reply's
// hour: a von Mises kernel density of the patient's (recency-weighted) reply hours, so 23:00 and 01:00
// are neighbours, plus `priorWeight` pseudo-replies spread like the prior (the practice's or the
// population's hours). With few replies the prior dominates; with many the patient's own habit does.
// The window is the `width` hours holding the most posterior predictive mass (wrapping midnight).
import { circularHours, round } from './stats.ts';

export interface BestWindow {
  /** The hour (its bin [h, h+1)) with the most predictive mass inside the best window. */
  hour: number | null;
  /** First hour of the best `width`-hour window (wraps midnight). */
  start: number | null;
  width: number;
  /** Posterior predictive probability that the next reply falls in the window (0..1). */
  mass: number | null;
  /** 0..1: Rayleigh evidence of a preference times the share of data over prior. */
  confidence: number;
  n: number;
  meanHour: number | null;
  resultantLength: number | null;
  rayleighP: number | null;
  reasons: string[];
}

/** The model's three smoothing choices; `DEFAULT_HOUR_WINDOW` (with a prior) and `DEFAULT_HOUR_WINDOW_NO_PRIOR` hold the product's values. */
export interface HourWindowParams {
  /** von Mises kernel concentration (4 ~ a 2.5-hour bandwidth, 64 ~ half an hour). */
  kappa: number;
  /** Weight of the prior in pseudo-replies (only used when a prior is given). */
  priorWeight: number;
  /** Recency half-life in replies: later replies weigh more (habits drift). 0 = off. */
  halfLife: number;
}

export interface WindowOptions extends Partial<HourWindowParams> {
  width?: number;
  /** Prior hour histogram (24 numbers, any scale): e.g. the practice's replies per local hour. */
  prior?: readonly number[];
  /**
   * With a prior: when the patient's own hours show no clear preference (Rayleigh p above this),
   * use the prior's window outright. Default 1 (never fall back).
   */
  fallbackP?: number;
}

/**
 * The product's smoothing, chosen by `fitHourWindow` on the Enron corpus's training replies (each
 * person's first 80%, rolling-origin validation inside them; `npm run bench:engagement` re-runs the
 * fit and prints it): habits drift, so recent replies count most, and a person's own histogram is
 * trusted about as much as 50 replies' worth of the population's.
 */
export const DEFAULT_HOUR_WINDOW: Readonly<HourWindowParams> = Object.freeze({
  kappa: 64,
  priorWeight: 50,
  halfLife: 10,
});

/**
 * Without a prior there is nothing to shrink towards, and the same fit (prior weight 0) wants a much
 * wider kernel instead: smoothing stands in for shrinkage. On the Enron benchmark this path does NOT
 * beat the population's window; pass the practice's hours (practicePriors().hourPrior) as the prior.
 */
export const DEFAULT_HOUR_WINDOW_NO_PRIOR: Readonly<HourWindowParams> = Object.freeze({
  kappa: 4,
  priorWeight: 0,
  halfLife: 25,
});

function usablePrior(prior: readonly number[] | undefined): readonly number[] | undefined {
  return prior && prior.some((x) => x > 0) ? prior : undefined;
}

/** The smoothing in force: explicit options first, then the default for "with" or "without a prior". */
function resolve(
  opts: Partial<HourWindowParams> & { prior?: readonly number[] | undefined },
): HourWindowParams & { prior: readonly number[] | undefined } {
  const prior = usablePrior(opts.prior);
  const d = prior ? DEFAULT_HOUR_WINDOW : DEFAULT_HOUR_WINDOW_NO_PRIOR;
  return {
    kappa: opts.kappa ?? d.kappa,
    halfLife: opts.halfLife ?? d.halfLife,
    priorWeight: prior ? (opts.priorWeight ?? d.priorWeight) : 0,
    prior,
  };
}

const TAU = 2 * Math.PI;
/** Sub-points per hour: the kernel is integrated over each hour bin at quarter-hour resolution. */
const SUB = 4;
const Q = 24 * SUB;

const kernels = new Map<number, Float64Array>();

/** Normalised von Mises kernel at quarter-hour offsets, cached per kappa (a handful of values in use). */
function kernelTable(kappa: number): Float64Array {
  const cached = kernels.get(kappa);
  if (cached) return cached;
  const kern = new Float64Array(Q);
  let sum = 0;
  for (let q = 0; q < Q; q++) sum += kern[q] = Math.exp(kappa * (Math.cos((q / Q) * TAU) - 1));
  for (let q = 0; q < Q; q++) kern[q] = (kern[q] as number) / sum;
  if (kernels.size < 64) kernels.set(kappa, kern);
  return kern;
}

/** Spread quarter-hour-binned weights over the 24 hour bins [k, k+1) with the kernel (each weight keeps its total). */
function smooth(bins: Float64Array, kern: Float64Array): number[] {
  const d = new Array<number>(24).fill(0);
  for (let q = 0; q < Q; q++) {
    const b = bins[q] as number;
    if (b === 0) continue;
    for (let k = 0; k < 24; k++) {
      let s = 0;
      // Sub-point centres k + (j + 0.5) / SUB, data point at (q + 0.5) / SUB: offset (k*SUB + j - q) quarters.
      for (let j = 0; j < SUB; j++) s += kern[(k * SUB + j - q + Q * 2) % Q] as number;
      d[k] = (d[k] as number) + b * s;
    }
  }
  return d;
}

function quarter(h: number): number {
  return Math.floor((((h % 24) + 24) % 24) * SUB) % Q;
}

/** Recency weights: the last reply weighs 1, one half-life earlier 0.5. */
function recencyWeights(n: number, halfLife: number): number[] | null {
  if (!(halfLife > 0)) return null;
  // Built backwards by repeated multiplication: one Math.pow instead of one per reply.
  const r = Math.pow(0.5, 1 / halfLife);
  const w = new Array<number>(n);
  let x = 1;
  for (let i = n - 1; i >= 0; i--) {
    w[i] = x;
    x *= r;
  }
  return w;
}

/**
 * Posterior predictive probability of the next reply falling in each local hour bin [k, k+1), from
 * the reply hours in time order (oldest first). Sums to 1 when there is data or a prior; all zeros
 * otherwise.
 */
export function hourPredictive(
  hours: readonly number[],
  opts: Omit<WindowOptions, 'width' | 'fallbackP'> = {},
): number[] {
  const { kappa, halfLife, prior, priorWeight } = resolve(opts);
  const weights = recencyWeights(hours.length, halfLife);
  const kern = kernelTable(kappa);
  const bins = new Float64Array(Q);
  let wsum = 0;
  for (let i = 0; i < hours.length; i++) {
    const w = weights ? (weights[i] as number) : 1;
    const q = quarter(hours[i] as number);
    bins[q] = (bins[q] as number) + w;
    wsum += w;
  }
  const psum = prior ? prior.reduce((a, b) => a + Math.max(0, b), 0) : 0;
  const pw = psum > 0 ? priorWeight : 0;
  if (prior && pw > 0) {
    // A prior count says "somewhere in [k, k+1)": its pseudo-replies spread evenly over that hour's
    // quarters and are then smoothed like real ones.
    for (let k = 0; k < 24; k++) {
      const w = (Math.max(0, prior[k] ?? 0) / psum) * (pw / SUB);
      for (let j = 0; j < SUB; j++) bins[k * SUB + j] = (bins[k * SUB + j] as number) + w;
    }
  }
  const total = wsum + pw;
  if (total <= 0) return new Array<number>(24).fill(0);
  return smooth(bins, kern).map((x) => x / total);
}

/** Start of the `width`-hour window (wrapping midnight) holding the most of `p`; ties go to the earliest. */
export function bestWindowStart(p: readonly number[], width = 3): { start: number; mass: number } {
  let start = 0;
  let mass = -Infinity;
  for (let s = 0; s < 24; s++) {
    let v = 0;
    for (let j = 0; j < width; j++) v += p[(s + j) % 24] as number;
    if (v > mass + 1e-12) {
      mass = v;
      start = s;
    }
  }
  return { start, mass };
}

export function bestWindow(hours: readonly number[], opts: WindowOptions = {}): BestWindow {
  const width = opts.width ?? 3;
  const { kappa, halfLife, prior, priorWeight: pw } = resolve(opts);
  const n = hours.length;
  if (n === 0 && !prior) {
    return {
      hour: null,
      start: null,
      width,
      mass: null,
      confidence: 0,
      n,
      meanHour: null,
      resultantLength: null,
      rayleighP: null,
      reasons: ['No replies yet.'],
    };
  }
  const weights = recencyWeights(n, halfLife);
  const wsum = weights ? weights.reduce((a, b) => a + b, 0) : n;
  const circ = circularHours(hours, weights ?? undefined);
  const fallback = prior !== undefined && (circ?.rayleighP ?? 1) > (opts.fallbackP ?? 1);
  // Falling back = the prior alone (no patient data), through the same predictive machinery.
  const p = fallback
    ? hourPredictive([], { prior, priorWeight: 1, kappa, halfLife })
    : hourPredictive(hours, { prior, priorWeight: pw, kappa, halfLife });
  const { start, mass } = bestWindowStart(p, width);
  let hour = start;
  for (let j = 1; j < width; j++)
    if ((p[(start + j) % 24] as number) > (p[hour] as number)) hour = (start + j) % 24;
  const evidence = circ ? 1 - circ.rayleighP : 0;
  const confidence = round(evidence * (wsum / (wsum + pw + 2)), 2);
  const reasons: string[] = [];
  if (circ) {
    reasons.push(
      `${n} repl${n === 1 ? 'y' : 'ies'}; circular mean ${round(circ.meanHour, 1)} h, mean resultant length ${round(circ.resultantLength, 2)} (Rayleigh p=${circ.rayleighP < 0.001 ? '<0.001' : round(circ.rayleighP, 3)}).`,
    );
  }
  if (fallback)
    reasons.push(
      `No clear preferred hour yet (Rayleigh p above ${opts.fallbackP}): the practice's busiest ${width}-hour window is used.`,
    );
  else {
    reasons.push(
      `Best ${width}-hour window by von Mises kernel density (kappa ${kappa}${halfLife > 0 ? `, recent replies weighted, half-life ${halfLife} replies` : ''})${prior ? `, shrunk towards the practice's hours with ${pw} pseudo-replies` : ''}: about ${Math.round(mass * 100)}% of replies expected in it.`,
    );
  }
  return {
    hour,
    start,
    width,
    mass: round(mass, 3),
    confidence,
    n,
    meanHour: circ ? round(circ.meanHour, 2) : null,
    resultantLength: circ ? round(circ.resultantLength, 3) : null,
    rayleighP: circ ? circ.rayleighP : null,
    reasons,
  };
}

/** Smoothed density at each integer hour (kept for callers that draw it). */
export function hourDensity(
  hours: readonly number[],
  weights: readonly number[] | null,
  kappa: number,
): number[] {
  const bins = new Float64Array(96);
  for (let i = 0; i < hours.length; i++) {
    const q = Math.round(((((hours[i] as number) % 24) + 24) % 24) * 4) % 96;
    bins[q] = (bins[q] as number) + (weights ? (weights[i] as number) : 1);
  }
  const kern = new Float64Array(96);
  for (let q = 0; q < 96; q++) kern[q] = Math.exp(kappa * (Math.cos((q / 96) * TAU) - 1));
  const d = new Array<number>(24).fill(0);
  for (let q = 0; q < 96; q++) {
    const b = bins[q] as number;
    if (b === 0) continue;
    for (let k = 0; k < 24; k++) d[k] = (d[k] as number) + b * (kern[(k * 4 - q + 96) % 96] as number);
  }
  return d;
}

export interface HourWindowFit {
  params: HourWindowParams;
  /** Mean log predictive probability of the validation replies' hour bins (higher is better). */
  logLik: number;
  /** Share of validation replies inside the chosen window (the product's metric, reported, not optimised). */
  hitRate: number;
  /** Validation replies scored. */
  n: number;
  table: { params: HourWindowParams; logLik: number; hitRate: number }[];
}

export interface FitHourWindowOptions {
  kappas?: readonly number[];
  priorWeights?: readonly number[];
  halfLives?: readonly number[];
  /** Rolling origins: fit on each history's first `cut` share, validate on the next `horizon` share. */
  cuts?: readonly number[];
  horizon?: number;
  width?: number;
  /** 'oneSE' (default): the most shrinkage within one standard error of the best score; 'best': the best score. */
  rule?: 'oneSE' | 'best';
}

/** Floor on a predicted bin probability in the log score, so one reply in an empty bin cannot dominate. */
const LOG_FLOOR = 1e-4;

/**
 * Empirical Bayes for the window's smoothing: choose kappa, prior weight and recency half-life by
 * rolling-origin validation INSIDE each person's history (fit on the earlier replies, score the later
 * ones), pooled across people. The score is the mean log predictive probability of the later replies'
 * hours, a proper scoring rule: it rewards calibrated shrinkage and is far less noisy than counting
 * window hits. `histories` are each person's reply hours in time order; `prior` the population's
 * hour histogram (built from the same training data only).
 */
export function fitHourWindow(
  histories: readonly (readonly number[])[],
  prior: readonly number[],
  opts: FitHourWindowOptions = {},
): HourWindowFit {
  const kappas = opts.kappas ?? [4, 8, 16, 32, 64];
  const priorWeights = opts.priorWeights ?? [0, 3, 10, 20, 30, 50, 100, 200, 500];
  const halfLives = opts.halfLives ?? [0, 10, 25, 50];
  const cuts = opts.cuts ?? [0.5, 0.6, 0.7, 0.8];
  const horizon = opts.horizon ?? 0.2;
  const width = opts.width ?? 3;
  const folds: { fit: readonly number[]; check: readonly number[] }[] = [];
  for (const h of histories) {
    for (const c of cuts) {
      const a = Math.ceil(h.length * c);
      const b = Math.min(h.length, Math.ceil(h.length * (c + horizon)));
      if (a < 3 || b <= a) continue;
      folds.push({ fit: h.slice(0, a), check: h.slice(a, b) });
    }
  }
  const table: HourWindowFit['table'] = [];
  const scores: Float64Array[] = [];
  let n = 0;
  for (const f of folds) n += f.check.length;
  for (const kappa of kappas) {
    for (const halfLife of halfLives) {
      for (const priorWeight of priorWeights) {
        const ll = new Float64Array(n);
        let hits = 0;
        let i = 0;
        for (const f of folds) {
          const p = hourPredictive(f.fit, { kappa, halfLife, prior, priorWeight });
          const { start } = bestWindowStart(p, width);
          for (const h of f.check) {
            const k = Math.floor(((h % 24) + 24) % 24) % 24;
            ll[i++] = Math.log(Math.max(LOG_FLOOR, p[k] as number));
            if ((k - start + 24) % 24 < width) hits++;
          }
        }
        scores.push(ll);
        table.push({
          params: { kappa, priorWeight, halfLife },
          logLik: n ? ll.reduce((a, b) => a + b, 0) / n : -Infinity,
          hitRate: n ? hits / n : 0,
        });
      }
    }
  }
  let bi = 0;
  for (let j = 1; j < table.length; j++)
    if (
      (table[j] as HourWindowFit['table'][number]).logLik >
      (table[bi] as HourWindowFit['table'][number]).logLik + 1e-12
    )
      bi = j;
  let chosen = bi;
  if ((opts.rule ?? 'oneSE') === 'oneSE' && n > 1) {
    // One-standard-error rule (Breiman et al. 1984; Hastie, Tibshirani & Friedman, ESL 7.10): among the
    // settings whose score is within one standard error of the best (paired over the same validation
    // replies), take the one that shrinks most towards the prior. On a flat optimum the data cannot
    // tell the settings apart, and the population's window is the safer bet for a new patient.
    const top = scores[bi] as Float64Array;
    for (let j = 0; j < table.length; j++) {
      const sj = scores[j] as Float64Array;
      let m = 0;
      for (let i = 0; i < n; i++) m += (sj[i] as number) - (top[i] as number);
      m /= n;
      let v = 0;
      for (let i = 0; i < n; i++) v += ((sj[i] as number) - (top[i] as number) - m) ** 2;
      const se = Math.sqrt(v / (n - 1) / n);
      if (m < -se) continue;
      const tj = table[j] as HourWindowFit['table'][number];
      const tc = table[chosen] as HourWindowFit['table'][number];
      if (
        tj.params.priorWeight > tc.params.priorWeight ||
        (tj.params.priorWeight === tc.params.priorWeight && tj.logLik > tc.logLik)
      )
        chosen = j;
    }
  }
  const best = table[chosen] as HourWindowFit['table'][number];
  return { params: best.params, logLik: best.logLik, hitRate: best.hitRate, n, table };
}
