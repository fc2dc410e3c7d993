// A discrete hidden Markov model with missing observations (weeks with no contact carry no evidence):
// Baum-Welch (EM) fitting over many sequences with scaled forward-backward (Rabiner 1989), Viterbi
// decoding in log space, and state posteriors.

export interface Hmm {
  /** Initial state probabilities, length K. */
  pi: number[];
  /** Transition matrix K x K, rows sum to 1. */
  a: number[][];
  /** Emission matrix K x M, rows sum to 1. */
  b: number[][];
}

/** An observation: a symbol 0..M-1, or -1 for "no data this step" (emission probability 1). */
export type Obs = number;

const emit = (m: Hmm, k: number, o: Obs): number => (o < 0 ? 1 : ((m.b[k] as number[])[o] as number));

interface Fb {
  alpha: Float64Array[];
  beta: Float64Array[];
  c: Float64Array;
  logLik: number;
}

function forwardBackward(m: Hmm, obs: readonly Obs[]): Fb {
  const K = m.pi.length;
  const T = obs.length;
  const alpha: Float64Array[] = [];
  const beta: Float64Array[] = [];
  const c = new Float64Array(T);
  let logLik = 0;
  for (let t = 0; t < T; t++) {
    const at = new Float64Array(K);
    const o = obs[t] as Obs;
    let sum = 0;
    for (let j = 0; j < K; j++) {
      let p = 0;
      if (t === 0) p = m.pi[j] as number;
      else {
        const prev = alpha[t - 1] as Float64Array;
        for (let i = 0; i < K; i++) p += (prev[i] as number) * ((m.a[i] as number[])[j] as number);
      }
      at[j] = p * emit(m, j, o);
      sum += at[j] as number;
    }
    const ct = sum > 0 ? 1 / sum : 1;
    for (let j = 0; j < K; j++) at[j] = (at[j] as number) * ct;
    c[t] = ct;
    logLik -= Math.log(ct);
    alpha.push(at);
  }
  for (let t = T - 1; t >= 0; t--) {
    const bt = new Float64Array(K);
    if (t === T - 1) bt.fill(c[t] as number);
    else {
      const next = beta[0] as Float64Array;
      const o = obs[t + 1] as Obs;
      for (let i = 0; i < K; i++) {
        let s = 0;
        for (let j = 0; j < K; j++)
          s += ((m.a[i] as number[])[j] as number) * emit(m, j, o) * (next[j] as number);
        bt[i] = s * (c[t] as number);
      }
    }
    beta.unshift(bt);
  }
  return { alpha, beta, c, logLik };
}

/** Posterior P(state at t | all observations), T x K. */
export function posteriors(m: Hmm, obs: readonly Obs[]): number[][] {
  if (obs.length === 0) return [];
  const { alpha, beta } = forwardBackward(m, obs);
  return alpha.map((at, t) => {
    const bt = beta[t] as Float64Array;
    const g = Array.from(at, (x, k) => x * (bt[k] as number));
    const s = g.reduce((a, b) => a + b, 0) || 1;
    return g.map((x) => x / s);
  });
}

export function logLikelihood(m: Hmm, obs: readonly Obs[]): number {
  return obs.length === 0 ? 0 : forwardBackward(m, obs).logLik;
}

/** Most likely state path (Viterbi). */
export function viterbi(m: Hmm, obs: readonly Obs[]): number[] {
  const K = m.pi.length;
  const T = obs.length;
  if (T === 0) return [];
  const la = m.a.map((r) => r.map((x) => Math.log(Math.max(x, 1e-300))));
  const lb = (k: number, o: Obs): number => (o < 0 ? 0 : Math.log(Math.max(emit(m, k, o), 1e-300)));
  let delta = m.pi.map((p, k) => Math.log(Math.max(p, 1e-300)) + lb(k, obs[0] as Obs));
  const psi: Int8Array[] = [];
  for (let t = 1; t < T; t++) {
    const nd: number[] = new Array<number>(K);
    const ps = new Int8Array(K);
    for (let j = 0; j < K; j++) {
      let best = -Infinity;
      let arg = 0;
      for (let i = 0; i < K; i++) {
        const v = (delta[i] as number) + ((la[i] as number[])[j] as number);
        if (v > best) {
          best = v;
          arg = i;
        }
      }
      nd[j] = best + lb(j, obs[t] as Obs);
      ps[j] = arg;
    }
    psi.push(ps);
    delta = nd;
  }
  const path = new Array<number>(T);
  let last = 0;
  for (let k = 1; k < K; k++) if ((delta[k] as number) > (delta[last] as number)) last = k;
  path[T - 1] = last;
  for (let t = T - 2; t >= 0; t--) path[t] = (psi[t] as Int8Array)[path[t + 1] as number] as number;
  return path;
}

export interface FitResult {
  model: Hmm;
  logLik: number;
  iterations: number;
}

/** Baum-Welch over several sequences, from `init`, until the log-likelihood gain is below `tol`. */
export function baumWelch(
  init: Hmm,
  seqs: readonly (readonly Obs[])[],
  maxIter = 100,
  tol = 1e-4,
): FitResult {
  let m: Hmm = { pi: [...init.pi], a: init.a.map((r) => [...r]), b: init.b.map((r) => [...r]) };
  const K = m.pi.length;
  const M = (m.b[0] as number[]).length;
  let prev = -Infinity;
  let it = 0;
  let ll = -Infinity;
  for (; it < maxIter; it++) {
    const piN = new Float64Array(K).fill(1e-3);
    const aN = Array.from({ length: K }, () => new Float64Array(K).fill(1e-3));
    const bN = Array.from({ length: K }, () => new Float64Array(M).fill(1e-3));
    ll = 0;
    for (const obs of seqs) {
      if (obs.length === 0) continue;
      const { alpha, beta, c, logLik } = forwardBackward(m, obs);
      ll += logLik;
      for (let t = 0; t < obs.length; t++) {
        const at = alpha[t] as Float64Array;
        const bt = beta[t] as Float64Array;
        // gamma_t(k) = alpha_t(k) beta_t(k) / c_t with the scaling used here.
        let gs = 0;
        const g = new Float64Array(K);
        for (let k = 0; k < K; k++) {
          g[k] = (at[k] as number) * (bt[k] as number);
          gs += g[k] as number;
        }
        for (let k = 0; k < K; k++) {
          const gk = (g[k] as number) / (gs || 1);
          if (t === 0) piN[k] = (piN[k] as number) + gk;
          const o = obs[t] as Obs;
          if (o >= 0) (bN[k] as Float64Array)[o] = ((bN[k] as Float64Array)[o] as number) + gk;
        }
        if (t < obs.length - 1) {
          const o1 = obs[t + 1] as Obs;
          const bt1 = beta[t + 1] as Float64Array;
          for (let i = 0; i < K; i++) {
            for (let j = 0; j < K; j++) {
              const xi =
                (at[i] as number) * ((m.a[i] as number[])[j] as number) * emit(m, j, o1) * (bt1[j] as number);
              (aN[i] as Float64Array)[j] = ((aN[i] as Float64Array)[j] as number) + xi;
            }
          }
        }
      }
      void c;
    }
    const norm = (r: Float64Array): number[] => {
      const s = r.reduce((x, y) => x + y, 0);
      return Array.from(r, (x) => x / s);
    };
    m = { pi: norm(piN), a: aN.map(norm), b: bN.map(norm) };
    if (ll - prev < tol * Math.abs(ll)) {
      it++;
      break;
    }
    prev = ll;
  }
  return { model: m, logLik: ll, iterations: it };
}
