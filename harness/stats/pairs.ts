// "Is vxlan slower than host-gw here, and by how much?": every two measured modes compared on values
// taken in the same rounds (the round's own conditions cancel), as a relative difference with a 95%
// interval, decided as faster, slower, equivalent within a margin, or undecided with the rounds it
// would need. Pure, tested on synthetic samples.
import type { PairDecision } from '../results/samples.ts';
import { mean, sd, t975 } from './stats.ts';

export type { PairDecision };

/** Two modes within ±3% of each other are called equivalent (--margin changes it). */
export const DEFAULT_MARGIN = 0.03;

/** Past this many rounds a pair is not going to be decided by sampling longer. */
const ROUNDS_CAP = 10_000;

/**
 * Compares two modes' per-round values (higher is better: throughput), paired by round: the mean of
 * the per-round log ratios with a Student-t interval, back to a relative difference. Equivalent when
 * the whole interval lies within ±`margin`; faster or slower when it excludes zero; else undecided.
 */
export function decidePair(
  a: { name: string; perRound: ReadonlyMap<number, number> },
  b: { name: string; perRound: ReadonlyMap<number, number> },
  margin: number,
): PairDecision {
  const logs = [...a.perRound].flatMap(([round, va]) => {
    const vb = b.perRound.get(round);
    return vb !== undefined && va > 0 && vb > 0 ? [Math.log(va / vb)] : [];
  });
  const n = logs.length;
  const m = n ? mean(logs) : 0;
  const s = n >= 2 ? sd(logs) : Number.NaN;
  const h = n >= 2 ? (t975(n - 1) * s) / Math.sqrt(n) : Number.POSITIVE_INFINITY;
  const out = { a: a.name, b: b.name, diff: Math.expm1(m), lo: Math.expm1(m - h), hi: Math.expm1(m + h), rounds: n };
  if (n >= 2 && out.lo > 0) return { ...out, verdict: 'faster' };
  if (n >= 2 && out.hi < 0) return { ...out, verdict: 'slower' };
  if (n >= 2 && out.lo >= -margin && out.hi <= margin) return { ...out, verdict: 'equivalent' };
  return { ...out, verdict: 'undecided', needed: roundsToDecide(m, s, n, Math.log1p(margin)) };
}

/**
 * The rounds in all whose interval would be narrow enough to decide, if the spread stays as it is:
 * narrower than the distance from zero (a difference), or than the room left inside the margin
 * (equivalence), whichever is easier.
 */
function roundsToDecide(m: number, s: number, n: number, margin: number): number {
  if (n < 2 || !Number.isFinite(s)) return Number.POSITIVE_INFINITY;
  const want = Math.max(Math.abs(m), margin - Math.abs(m));
  if (want <= 0) return Number.POSITIVE_INFINITY;
  if (s === 0) return n;
  let k = Math.max(n, 2);
  while (k < ROUNDS_CAP && (t975(k - 1) * s) / Math.sqrt(k) > want) k++;
  return k >= ROUNDS_CAP ? Number.POSITIVE_INFINITY : k;
}

/** Every pair of the modes given, in their order (a before b). */
export function decidePairs(modes: readonly { name: string; perRound: ReadonlyMap<number, number> }[], margin: number): PairDecision[] {
  return modes.flatMap((a, i) => modes.slice(i + 1).map((b) => decidePair(a, b, margin)));
}

/** One line for a pair: "flannel-host-gw vs flannel-vxlan: faster by 7.9% [5.1, 10.8]". */
export function pairText(p: PairDecision, margin: number): string {
  const pc = (x: number) => (x * 100).toFixed(1);
  const interval = Number.isFinite(p.lo) && Number.isFinite(p.hi) ? ` [${pc(p.lo)}, ${pc(p.hi)}]` : '';
  const head = `${p.a} vs ${p.b}`;
  switch (p.verdict) {
    case 'faster':
      return `${head}: faster by ${pc(p.diff)}%${interval}`;
    case 'slower':
      return `${head}: slower by ${pc(-p.diff)}%${interval}`;
    case 'equivalent':
      return `${head}: equivalent within ±${pc(margin)}% (${pc(p.diff)}%${interval})`;
    case 'undecided':
      return (
        `${head}: undecided (${pc(p.diff)}%${interval}; ` +
        `${p.needed !== undefined && Number.isFinite(p.needed) ? `needs ~${p.needed - p.rounds} more rounds` : 'too few rounds to tell'})`
      );
  }
}
