// Deterministic seeded PRNG (mulberry32) and the few distributions the simulator needs.

export interface Rng {
  next(): number;
  int(lo: number, hiInclusive: number): number;
  normal(mu?: number, sigma?: number): number;
  logNormal(mu: number, sigma: number): number;
  /** von Mises deviate on (-pi, pi] around `mu` with concentration `kappa` (Best & Fisher 1979). */
  vonMises(mu: number, kappa: number): number;
  poisson(lambda: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
}

export function createRng(seed: number): Rng {
  let a = seed >>> 0 || 0x9e3779b9;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = (mu = 0, sigma = 1): number => {
    const u = Math.max(next(), 1e-12);
    const v = next();
    return mu + sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    normal,
    logNormal: (mu, sigma) => Math.exp(normal(mu, sigma)),
    vonMises(mu, kappa) {
      if (kappa < 1e-6) return mu + Math.PI * (2 * next() - 1);
      const tau = 1 + Math.sqrt(1 + 4 * kappa * kappa);
      const rho = (tau - Math.sqrt(2 * tau)) / (2 * kappa);
      const r = (1 + rho * rho) / (2 * rho);
      for (;;) {
        const z = Math.cos(Math.PI * next());
        const f = (1 + r * z) / (r + z);
        const c = kappa * (r - f);
        const u2 = next();
        if (c * (2 - c) - u2 > 0 || Math.log(c / u2) + 1 - c >= 0) {
          const theta = Math.acos(Math.max(-1, Math.min(1, f)));
          return mu + (next() > 0.5 ? theta : -theta);
        }
      }
    },
    poisson(lambda) {
      const l = Math.exp(-lambda);
      let k = 0;
      let p = 1;
      do {
        k++;
        p *= next();
      } while (p > l);
      return k - 1;
    },
    pick: (xs) => xs[Math.floor(next() * xs.length)] as (typeof xs)[number],
    chance: (p) => next() < p,
  };
}
