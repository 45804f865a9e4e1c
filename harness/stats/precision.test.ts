import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapPercentile, citedVerdict, differenceOfMeans, relativeHalfWidth, roundsNeeded, stopDecision } from './precision.ts';
import { prng } from './random.ts';
import { ratioOfMeans, sd, summarize } from './stats.ts';

/** Normal samples by Box-Muller, seeded. */
function normal(n: number, mu: number, sigma: number, seed: number): number[] {
  const r = prng(seed);
  return Array.from({ length: n }, () => mu + sigma * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}

const base = { minRounds: 3, target: 0.05, elapsedMs: 10_000, budgetMs: 180_000, roundMs: 10_000 };

test('the stopping rule: never before the minimum, at the target, or when the next round would not fit', () => {
  const tight = { x: { mean: 1, ci95: 0.02 } };
  const wide = { x: { mean: 1, ci95: 0.2 }, y: { mean: 2, ci95: 0.05 } };
  assert.deepEqual(stopDecision({ ...base, rounds: 2, estimates: tight }), { stop: false });
  assert.deepEqual(stopDecision({ ...base, rounds: 3, estimates: tight }), { stop: true, why: 'precision', missed: [] });
  assert.deepEqual(stopDecision({ ...base, rounds: 3, estimates: wide }), { stop: false });
  const out = stopDecision({ ...base, rounds: 9, estimates: wide, elapsedMs: 175_000 });
  assert.deepEqual(out, { stop: true, why: 'budget', missed: [{ name: 'x', halfWidth: 0.2 }] });
  // An estimate with one sample has no interval: it is never precise enough.
  assert.equal(relativeHalfWidth({ mean: 1, ci95: Infinity }), Infinity);
  assert.deepEqual(stopDecision({ ...base, rounds: 5, estimates: { z: { mean: 1, ci95: Infinity } } }), { stop: false });
  // Every ratio at ±5% but two modes not told apart: sampling goes on while the budget allows.
  assert.deepEqual(stopDecision({ ...base, rounds: 3, estimates: tight, undecided: ['a vs b'] }), { stop: false });
  assert.deepEqual(stopDecision({ ...base, rounds: 3, estimates: tight, undecided: ['a vs b'], elapsedMs: 175_000 }), {
    stop: true,
    why: 'budget',
    missed: [],
  });
});

test('more rounds of the same noise narrow a ratio until the rule stops: the rule is reachable', () => {
  let stoppedAt = 0;
  for (let n = 3; n <= 60; n++) {
    const r = ratioOfMeans(normal(n, 9, 0.6, 1), normal(n, 10, 0.6, 2));
    const d = stopDecision({ ...base, rounds: n, estimates: { ratio: r }, elapsedMs: 0 });
    if (d.stop) {
      stoppedAt = n;
      assert.equal(d.why, 'precision');
      break;
    }
  }
  assert.ok(stoppedAt > 3 && stoppedAt < 60, `stopped at ${stoppedAt}`);
});

test('verdicts against a cited range: consistent only inside it, differs only outside, else inconclusive', () => {
  const vxlan = { lo: 0.2, hi: 0.3 };
  assert.equal(citedVerdict(0.22, 0.28, vxlan), 'consistent');
  assert.equal(citedVerdict(0.31, 0.4, vxlan), 'differs');
  assert.equal(citedVerdict(-0.1, 0.15, vxlan), 'differs');
  // The interval from the issue: 3% (−22%…28%) against 20–30% cannot agree with it.
  assert.equal(citedVerdict(-0.22, 0.28, vxlan), 'inconclusive');
  assert.equal(citedVerdict(0.25, 0.35, vxlan), 'inconclusive');
  assert.equal(citedVerdict(Number.NaN, 0.25, vxlan), 'inconclusive');
});

test('a change between runs is claimed only when the interval of the difference excludes zero', () => {
  const a = normal(8, 10, 0.3, 3);
  const same = differenceOfMeans(a, normal(8, 10, 0.3, 4));
  assert.ok(same.lo < 0 && same.hi > 0, `noise: ${same.lo}..${same.hi}`);
  const slower = differenceOfMeans(a, normal(8, 8, 0.3, 5));
  assert.ok(slower.hi < 0, `a real drop: ${slower.lo}..${slower.hi}`);
  assert.equal(differenceOfMeans([1], [2, 3]).ci95, Infinity);
});

test('bootstrap percentile intervals contain the percentile, shrink with more samples, and reproduce from the seed', () => {
  const small = bootstrapPercentile(normal(30, 100, 20, 6), 50, prng(7));
  const big = bootstrapPercentile(normal(3000, 100, 20, 6), 50, prng(7));
  assert.ok(small.lo <= small.value && small.value <= small.hi);
  assert.ok(big.hi - big.lo < small.hi - small.lo);
  assert.ok(Math.abs(big.value - 100) < 2);
  assert.deepEqual(bootstrapPercentile(normal(30, 100, 20, 6), 50, prng(7)), small);
});

test('rounds needed: from the spread an interval shows to the rounds that would bring it within the target', () => {
  // sd 0.1 around 1 from 4 rounds: ci95 = t(3) 0.1 / 2. The target 5% needs t(m-1) 0.1 / sqrt(m) <= 0.05.
  const e = { mean: 1, ci95: (3.182446 * 0.1) / 2 };
  const m = roundsNeeded(e, 4, 0.05);
  assert.equal(m, 18, 'the smallest m with t(m-1)/sqrt(m) <= 0.5');
  // Check the definition itself at m and m-1, with the same t as the code uses.
  const tOf = (n: number) => summarize(normal(n, 0, 1, 9)).ci95 / (sd(normal(n, 0, 1, 9)) / Math.sqrt(n));
  assert.ok((tOf(m) * 0.1) / Math.sqrt(m) <= 0.05 + 1e-9);
  assert.ok((tOf(m - 1) * 0.1) / Math.sqrt(m - 1) > 0.05);
  // Already within the target: the rounds done are enough.
  assert.ok(roundsNeeded({ mean: 1, ci95: 0.01 }, 5, 0.05) <= 5);
  // A tighter target needs more; no interval or a zero mean cannot be known.
  assert.ok(roundsNeeded(e, 4, 0.02) > m);
  assert.equal(roundsNeeded({ mean: 1, ci95: Infinity }, 1, 0.05), Infinity);
  assert.equal(roundsNeeded({ mean: 0, ci95: 0.1 }, 4, 0.05), Infinity);
});
