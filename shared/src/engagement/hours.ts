// Preferred reply hours in the patient's own time zone, with circular statistics, and the best 3-hour
// window to send: a von Mises kernel density over the day (so 23:00 and 01:00 are neighbours), shrunk
// towards a prior (the practice's or population's hours) when the patient has few replies.
import { circularHours, round } from './stats.ts';

export interface BestWindow {
  /** Hour of the highest smoothed density. */
  hour: number | null;
  /** First hour of the best `width`-hour window (wraps midnight). */
  start: number | null;
  width: number;
  /** 0..1: Rayleigh evidence of a preference times the share of data over prior. */
  confidence: number;
  n: number;
  meanHour: number | null;
  resultantLength: number | null;
  rayleighP: number | null;
  reasons: string[];
}

export interface WindowOptions {
  width?: number;
  /** von Mises kernel concentration (4 ~ a 2-3 hour bandwidth). */
  kappa?: number;
  /** Prior hour histogram (24 numbers) and its weight in pseudo-replies. */
  prior?: readonly number[];
  priorWeight?: number;
  /** Recency half-life in replies: later replies weigh more (habits drift). 0 = off. */
  halfLife?: number;
  /**
   * With a prior: when the patient's own hours show no clear preference (Rayleigh p above this),
   * use the prior's window outright. Default 1 (never fall back).
   */
  fallbackP?: number;
}

const TAU = 2 * Math.PI;

/** Smoothed density at each integer hour. */
export function hourDensity(hours: readonly number[], weights: readonly number[] | null, kappa: number): number[] {
  // Bin into quarter hours first, then convolve with the kernel: O(n + 96*24) instead of O(24n).
  const bins = new Float64Array(96);
  for (let i = 0; i < hours.length; i++) {
    const q = Math.round((((hours[i] as number) % 24) + 24) % 24 * 4) % 96;
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

export function bestWindow(hours: readonly number[], opts: WindowOptions = {}): BestWindow {
  const width = opts.width ?? 3;
  const kappa = opts.kappa ?? 4;
  const n = hours.length;
  const weights: number[] | null = opts.halfLife ? hours.map((_, i) => Math.pow(0.5, (n - 1 - i) / (opts.halfLife as number))) : null;
  const d = hourDensity(hours, weights, kappa);
  const wsum = weights ? weights.reduce((a, b) => a + b, 0) : n;
  const dsum = d.reduce((a, b) => a + b, 0) || 1;
  const prior = opts.prior;
  const pw = prior ? (opts.priorWeight ?? 3) : 0;
  const psum = prior ? prior.reduce((a, b) => a + b, 0) || 1 : 1;
  const score = d.map((x, k) => (x / dsum) * wsum + (prior ? ((prior[k] as number) / psum) * pw : 0));
  const circ = circularHours(hours, weights ?? undefined);
  if (n === 0 && !prior) {
    return { hour: null, start: null, width, confidence: 0, n, meanHour: null, resultantLength: null, rayleighP: null, reasons: ['No replies yet.'] };
  }
  let bestK = 0;
  for (let k = 1; k < 24; k++) if ((score[k] as number) > (score[bestK] as number)) bestK = k;
  let bestS = 0;
  let bestV = -Infinity;
  for (let s = 0; s < 24; s++) {
    let v = 0;
    for (let j = 0; j < width; j++) v += score[(s + j) % 24] as number;
    if (v > bestV) {
      bestV = v;
      bestS = s;
    }
  }
  const fallback = prior !== undefined && (circ?.rayleighP ?? 1) > (opts.fallbackP ?? 1);
  if (fallback && prior) {
    // The patient's hours are too spread (or too few) to trust: the practice's own best window.
    bestS = 0;
    bestV = -Infinity;
    for (let st = 0; st < 24; st++) {
      let v = 0;
      for (let j = 0; j < width; j++) v += prior[(st + j) % 24] as number;
      if (v > bestV) {
        bestV = v;
        bestS = st;
      }
    }
    bestK = (bestS + Math.floor(width / 2)) % 24;
  }
  const evidence = circ ? 1 - circ.rayleighP : 0;
  const confidence = round(evidence * (wsum / (wsum + pw + 2)), 2);
  const reasons: string[] = [];
  if (circ) {
    reasons.push(
      `${n} repl${n === 1 ? 'y' : 'ies'}; circular mean ${round(circ.meanHour, 1)} h, mean resultant length ${round(circ.resultantLength, 2)} (Rayleigh p=${circ.rayleighP < 0.001 ? '<0.001' : round(circ.rayleighP, 3)}).`,
    );
  }
  if (fallback) reasons.push(`No clear preferred hour yet (Rayleigh p above ${opts.fallbackP}): the practice's busiest ${width}-hour window is used.`);
  else reasons.push(`Best ${width}-hour window by von Mises kernel density (kappa ${kappa})${prior ? `, shrunk towards the prior with ${pw} pseudo-replies` : ''}.`);
  return {
    hour: bestK,
    start: bestS,
    width,
    confidence,
    n,
    meanHour: circ ? round(circ.meanHour, 2) : null,
    resultantLength: circ ? round(circ.resultantLength, 3) : null,
    rayleighP: circ ? circ.rayleighP : null,
    reasons,
  };
}
