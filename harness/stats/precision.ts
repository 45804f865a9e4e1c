// What a performance run needs to know to stop, and to say what its numbers mean: how precise a
// ratio is, whether sampling may stop, percentiles with bootstrap intervals, and verdicts that can
// say "inconclusive". Pure, and tested on synthetic samples.
import { mean, percentile, sd, t975 } from './stats.ts';

/** An estimate with a 95% interval given as half-width (Infinity when it cannot be known). */
export interface Estimate {
  mean: number;
  ci95: number;
}

/** Half-width relative to the value: 0.05 means ±5%. */
export const relativeHalfWidth = (e: Estimate) => (e.mean === 0 || !Number.isFinite(e.ci95) ? Infinity : Math.abs(e.ci95 / e.mean));

export interface StopInput {
  /** Rounds done so far. */
  rounds: number;
  /** Fewer rounds than this never stop (t with 1 degree of freedom is no interval). */
  minRounds: number;
  /** Each estimate that must reach the target, by name ("flannel-vxlan throughput"). */
  estimates: Readonly<Record<string, Estimate>>;
  /** Largest relative half-width accepted. */
  target: number;
  elapsedMs: number;
  budgetMs: number;
  /** How long a round took, recently: the next one must fit in what is left of the budget. */
  roundMs: number;
  /** Pairs of modes not yet told apart (stats/pairs.ts): sampling goes on for them while the budget allows. */
  undecided?: readonly string[];
}

export type StopDecision =
  | { stop: false }
  | { stop: true; why: 'precision'; missed: [] }
  | { stop: true; why: 'budget'; missed: { name: string; halfWidth: number }[] };

/**
 * Stop when every estimate is within the target and every pair of modes is decided, or when another
 * round would not fit the budget: a ±5% interval on each is not yet an answer while two overlap.
 */
export function stopDecision(s: StopInput): StopDecision {
  const missed = Object.entries(s.estimates)
    .map(([name, e]) => ({ name, halfWidth: relativeHalfWidth(e) }))
    .filter((m) => !(m.halfWidth <= s.target));
  if (s.rounds >= s.minRounds && missed.length === 0 && !s.undecided?.length) return { stop: true, why: 'precision', missed: [] };
  if (s.rounds >= s.minRounds && s.elapsedMs + s.roundMs > s.budgetMs) return { stop: true, why: 'budget', missed };
  return { stop: false };
}

/**
 * How many rounds an estimate from `rounds` per-round values would need for its 95% half-width to
 * be within `target` of its value, if its spread stays what it is: the sd is recovered from the t
 * interval (ci95 = t(n-1) sd / sqrt(n)), then the smallest m with t(m-1) sd / sqrt(m) <= target
 * |mean|. Infinity when it cannot be known (no interval, a zero mean), capped at `cap`.
 */
export function roundsNeeded(e: Estimate, rounds: number, target: number, cap = 10_000): number {
  if (rounds < 2 || !Number.isFinite(e.ci95) || e.mean === 0) return Infinity;
  const sdv = (e.ci95 * Math.sqrt(rounds)) / t975(rounds - 1);
  const want = target * Math.abs(e.mean);
  if (sdv === 0) return rounds;
  // Past ~30 rounds t is ~2: start from the normal approximation and walk to the exact answer.
  let m = Math.max(2, Math.ceil(((1.96 * sdv) / want) ** 2));
  while (m > 2 && t975(m - 2) * (sdv / Math.sqrt(m - 1)) <= want) m--;
  while (m < cap && t975(m - 1) * (sdv / Math.sqrt(m)) > want) m++;
  return m;
}

/**
 * A percentile with a 95% percentile-bootstrap interval: resample with replacement `b` times
 * (seeded, so a report reproduces), take the percentile of each, read the 2.5th and 97.5th.
 */
export function bootstrapPercentile(
  xs: readonly number[],
  p: number,
  rand: () => number,
  b = 500,
): { value: number; lo: number; hi: number } {
  const value = percentile(xs, p);
  if (xs.length < 2) return { value, lo: value, hi: value };
  const stats: number[] = [];
  const draw = new Array<number>(xs.length);
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < xs.length; j++) draw[j] = xs[Math.floor(rand() * xs.length)]!;
    stats.push(percentile(draw, p));
  }
  return { value, lo: percentile(stats, 2.5), hi: percentile(stats, 97.5) };
}

/** Against a cited range: inside it, outside it, or an interval that crosses a bound and cannot say. */
export type CitedVerdict = 'consistent' | 'differs' | 'inconclusive';

export function citedVerdict(lo: number, hi: number, cited: { lo: number; hi: number }): CitedVerdict {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return 'inconclusive';
  if (lo >= cited.lo && hi <= cited.hi) return 'consistent';
  if (hi < cited.lo || lo > cited.hi) return 'differs';
  return 'inconclusive';
}

/** Difference of two means (b - a) with a Welch 95% interval: a change is claimed only when it excludes zero. */
export function differenceOfMeans(a: readonly number[], b: readonly number[]): Estimate & { lo: number; hi: number } {
  const d = mean(b) - mean(a);
  if (a.length < 2 || b.length < 2) return { mean: d, ci95: Infinity, lo: -Infinity, hi: Infinity };
  const va = sd(a) ** 2 / a.length;
  const vb = sd(b) ** 2 / b.length;
  const den = va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1);
  const df = den === 0 ? a.length + b.length - 2 : (va + vb) ** 2 / den;
  const h = t975(df) * Math.sqrt(va + vb);
  return { mean: d, ci95: h, lo: d - h, hi: d + h };
}
