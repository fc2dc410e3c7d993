// Reply-latency prediction. Reply times are strongly right-skewed (most replies within hours, a few
// after days), so the point that minimises the typical (median) absolute error is not the median but
// the midpoint of the shortest interval holding half the data (Rousseeuw's LMS location). The
// person's value is shrunk towards the population's with `k` pseudo-replies (chosen by nested
// validation in test/bench/engagement.ts on the Enron corpus: 30).

/** Midpoint of the shortest interval containing half of the values; null when empty. */
export function shortestHalfMidpoint(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = Float64Array.from(xs).sort();
  const h = Math.ceil(s.length / 2);
  let best = 0;
  for (let i = 1; i + h - 1 < s.length; i++) {
    if ((s[i + h - 1] as number) - (s[i] as number) < (s[best + h - 1] as number) - (s[best] as number))
      best = i;
  }
  return ((s[best] as number) + (s[best + h - 1] as number)) / 2;
}

export const DEFAULT_LATENCY_SHRINKAGE = 30;
/** Population prior (hours) when the practice has none: the Enron corpus's shortest-half midpoint is ~1 h. */
export const DEFAULT_POPULATION_LATENCY_HOURS = 1;

/** Predicted reply latency in hours from the person's past latencies (hours). */
export function predictLatencyHours(
  own: readonly number[],
  population: number = DEFAULT_POPULATION_LATENCY_HOURS,
  k: number = DEFAULT_LATENCY_SHRINKAGE,
): number {
  const m = shortestHalfMidpoint(own);
  if (m === null) return population;
  return (m * own.length + population * k) / (own.length + k);
}
