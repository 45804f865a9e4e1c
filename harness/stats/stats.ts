// Small-sample statistics for the performance report: means with Student-t confidence intervals,
// percentiles, jitter, the ratio of two means, and Welch's test for "is this more than noise".
import type { Stat } from '../results/schema.ts';

export const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** Sample standard deviation (n - 1). */
export function sd(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** Percentile by linear interpolation between closest ranks (type 7, as R and NumPy default). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) * (p / 100);
  const lo = Math.floor(h);
  return s[lo]! + (h - lo) * ((s[Math.min(lo + 1, s.length - 1)] ?? s[lo]!) - s[lo]!);
}

/** Mean absolute difference of consecutive samples: RFC 3550's jitter idea without its smoothing. */
export function jitter(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  let sum = 0;
  for (let i = 1; i < xs.length; i++) sum += Math.abs(xs[i]! - xs[i - 1]!);
  return sum / (xs.length - 1);
}

/** Regularized incomplete beta I_x(a, b), by Lentz's continued fraction (Numerical Recipes 6.4). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a);
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < tiny ? tiny : d);
  let f = d;
  for (let m = 1; m <= 300; m++) {
    for (const num of [
      (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)),
      -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1)),
    ]) {
      d = 1 + num * d;
      d = 1 / (Math.abs(d) < tiny ? tiny : d);
      c = 1 + num / c;
      c = Math.abs(c) < tiny ? tiny : c;
      f *= c * d;
    }
    if (Math.abs(c * d - 1) < 1e-12) break;
  }
  return (Math.exp(lnFront) * f) / a;
}

/** log Gamma by the Lanczos approximation (g = 7, n = 9). */
export function lgamma(z: number): number {
  const g = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (z < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * z))) - lgamma(1 - z);
  const x = z - 1;
  let a = g[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += g[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Two-sided tail probability of Student's t with df degrees of freedom. */
export function tTwoSidedP(t: number, df: number): number {
  return incompleteBeta(df / (df + t * t), df / 2, 0.5);
}

/** The t quantile with P(|T| < q) = 0.95, by bisection on the exact CDF. */
export function t975(df: number): number {
  if (!(df > 0)) return NaN;
  let lo = 0;
  let hi = 1000;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (tTwoSidedP(mid, df) > 0.05) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Mean and half-width of its 95% CI. One sample has no spread: ci95 is Infinity, honestly. */
export function summarize(samples: readonly number[]): Stat {
  const n = samples.length;
  const m = mean(samples);
  const ci95 = n < 2 ? Infinity : (t975(n - 1) * sd(samples)) / Math.sqrt(n);
  return { mean: m, ci95, samples: [...samples] };
}

/**
 * Ratio of two independent means with a 95% CI by the delta method:
 * Var(a/b) ~ (a/b)^2 (s_a^2/(n_a a^2) + s_b^2/(n_b b^2)); t with Welch-Satterthwaite df.
 */
export function ratioOfMeans(a: readonly number[], b: readonly number[]): { mean: number; ci95: number } {
  const ma = mean(a);
  const mb = mean(b);
  const r = ma / mb;
  if (a.length < 2 || b.length < 2) return { mean: r, ci95: Infinity };
  const va = sd(a) ** 2 / a.length;
  const vb = sd(b) ** 2 / b.length;
  const rel = va / ma ** 2 + vb / mb ** 2;
  const df = welchDf(va, a.length, vb, b.length);
  return { mean: r, ci95: t975(df) * Math.abs(r) * Math.sqrt(rel) };
}

function welchDf(va: number, na: number, vb: number, nb: number): number {
  const den = va ** 2 / (na - 1) + vb ** 2 / (nb - 1);
  return den === 0 ? na + nb - 2 : (va + vb) ** 2 / den;
}

/** Welch's unequal-variance t-test, two-sided. */
export function welch(a: readonly number[], b: readonly number[]): { t: number; df: number; p: number } {
  if (a.length < 2 || b.length < 2) return { t: NaN, df: NaN, p: NaN };
  const va = sd(a) ** 2 / a.length;
  const vb = sd(b) ** 2 / b.length;
  if (va + vb === 0) return { t: mean(a) === mean(b) ? 0 : Infinity, df: a.length + b.length - 2, p: mean(a) === mean(b) ? 1 : 0 };
  const t = (mean(a) - mean(b)) / Math.sqrt(va + vb);
  const df = welchDf(va, a.length, vb, b.length);
  return { t, df, p: tTwoSidedP(Math.abs(t), df) };
}
