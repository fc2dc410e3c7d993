// The style model shipped by default: Baum-Welch fitted on 400 simulated training patients
// (simulatePractice({ seed: 1, patients: 400, asOf: '2026-11-01T00:00:00Z', idPrefix: 'train' }) from
// INITIAL_STYLE_HMM; rounded). `npm run bench:engagement` refits on its own training cohort and evaluates
// on patients never used for fitting; a practice with enough history can refit with fitStyleModel.
import type { StyleModel } from './style.ts';

export const DEFAULT_STYLE_MODEL: StyleModel = {
  hmm: {
    pi: [0.0594, 0.1473, 0.7933],
    a: [
      [0.98208, 0.00097, 0.01695],
      [0.00207, 0.99788, 0.00005],
      [0.00787, 0.00654, 0.98559],
    ],
    b: [
      [0.3689, 0.4917, 0.0958, 0.0436],
      [0.135, 0.2881, 0.1424, 0.4345],
      [0.0018, 0.0396, 0.024, 0.9346],
    ],
  },
  level: [0, 1, 2],
  source: 'Baum-Welch on 400 simulated training patients',
};
