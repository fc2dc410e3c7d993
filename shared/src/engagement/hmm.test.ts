import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { baumWelch, logLikelihood, viterbi, type Hmm } from './hmm.ts';
import { createRng } from './prng.ts';

const truth: Hmm = {
  pi: [0.5, 0.5],
  a: [
    [0.95, 0.05],
    [0.1, 0.9],
  ],
  b: [
    [0.8, 0.15, 0.05],
    [0.05, 0.15, 0.8],
  ],
};

function sample(m: Hmm, T: number, seed: number): number[] {
  const rng = createRng(seed);
  const draw = (p: number[]): number => {
    let u = rng.next();
    for (let i = 0; i < p.length; i++) if ((u -= p[i] as number) < 0) return i;
    return p.length - 1;
  };
  const out: number[] = [];
  let s = draw(m.pi);
  for (let t = 0; t < T; t++) {
    out.push(draw(m.b[s] as number[]));
    s = draw(m.a[s] as number[]);
  }
  return out;
}

describe('Baum-Welch', () => {
  it('raises the likelihood and recovers the emission structure from sampled sequences', () => {
    const seqs = Array.from({ length: 40 }, (_, i) => sample(truth, 60, i + 1));
    const init: Hmm = {
      pi: [0.5, 0.5],
      a: [
        [0.7, 0.3],
        [0.3, 0.7],
      ],
      b: [
        [0.5, 0.3, 0.2],
        [0.2, 0.3, 0.5],
      ],
    };
    const before = seqs.reduce((s, o) => s + logLikelihood(init, o), 0);
    const fit = baumWelch(init, seqs);
    expect(fit.logLik).toBeGreaterThan(before);
    expect((fit.model.b[0] as number[])[0]).toBeGreaterThan(0.65);
    expect((fit.model.b[1] as number[])[2]).toBeGreaterThan(0.65);
    expect((fit.model.a[0] as number[])[0]).toBeGreaterThan(0.85);
  });
  it('treats missing observations (-1) as carrying no evidence', () => {
    expect(logLikelihood(truth, [-1, -1, -1])).toBeCloseTo(0, 9);
  });
});

describe('Viterbi', () => {
  it('returns the most probable path, as brute force does (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1, max: 2 }), { minLength: 1, maxLength: 6 }), (obs) => {
        const path = viterbi(truth, obs);
        const score = (p: number[]): number => {
          let s = Math.log(truth.pi[p[0] as number] as number);
          for (let t = 0; t < obs.length; t++) {
            if (t > 0) s += Math.log((truth.a[p[t - 1] as number] as number[])[p[t] as number] as number);
            const o = obs[t] as number;
            if (o >= 0) s += Math.log((truth.b[p[t] as number] as number[])[o] as number);
          }
          return s;
        };
        let best = -Infinity;
        for (let code = 0; code < 1 << obs.length; code++) {
          const p = obs.map((_, t) => (code >> t) & 1);
          best = Math.max(best, score(p));
        }
        expect(score(path)).toBeCloseTo(best, 9);
      }),
      { numRuns: 200 },
    );
  });
});
