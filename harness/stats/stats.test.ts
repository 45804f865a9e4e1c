import { test } from 'node:test';
import assert from 'node:assert/strict';
import { incompleteBeta, jitter, mean, percentile, ratioOfMeans, sd, summarize, t975, tTwoSidedP, welch } from './stats.ts';

const close = (a: number, b: number, eps: number, what: string) => assert.ok(Math.abs(a - b) <= eps, `${what}: ${a} vs ${b}`);

test('t quantiles match the tables', () => {
  close(t975(1), 12.706, 0.001, 'df 1');
  close(t975(4), 2.776, 0.001, 'df 4');
  close(t975(9), 2.262, 0.001, 'df 9');
  close(t975(30), 2.042, 0.001, 'df 30');
  close(t975(1000), 1.962, 0.001, 'df 1000');
});

test('incomplete beta and t tail probabilities', () => {
  close(incompleteBeta(0.5, 2, 2), 0.5, 1e-9, 'symmetric');
  close(incompleteBeta(0.3, 1, 1), 0.3, 1e-9, 'uniform');
  close(tTwoSidedP(2.228, 10), 0.05, 1e-3, 't 2.228 df 10');
  close(tTwoSidedP(0, 5), 1, 1e-9, 't 0');
});

test('mean, sd, percentiles (type 7), jitter', () => {
  const xs = [2, 4, 4, 4, 5, 5, 7, 9];
  assert.equal(mean(xs), 5);
  close(sd(xs), 2.138, 1e-3, 'sd');
  assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
  close(percentile([15, 20, 35, 40, 50], 90), 46, 1e-9, 'p90');
  assert.equal(percentile([7], 99), 7);
  assert.equal(jitter([10, 12, 9, 9]), (2 + 3 + 0) / 3);
});

test('summarize: CI half-width is t * s / sqrt(n); one sample is honest about it', () => {
  const s = summarize([10, 12, 11, 13, 9]);
  close(s.mean, 11, 1e-12, 'mean');
  close(s.ci95, (2.776 * sd([10, 12, 11, 13, 9])) / Math.sqrt(5), 2e-3, 'ci');
  assert.equal(summarize([5]).ci95, Infinity);
});

test('ratio of means with a delta-method CI', () => {
  const r = ratioOfMeans([9, 9.2, 8.8, 9.1], [10, 10.1, 9.9, 10]);
  close(r.mean, 0.9025, 1e-3, 'ratio');
  assert.ok(r.ci95 > 0 && r.ci95 < 0.03, String(r.ci95));
  assert.equal(ratioOfMeans([1], [2, 3]).ci95, Infinity);
});

test("Welch's test: a clear shift is significant, overlapping noise is not", () => {
  // Textbook example (Welch 1947 style): means 20.8 vs 23.2.
  const a = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4];
  const b = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4];
  const w = welch(a, b);
  close(w.t, -2.46, 0.01, 't');
  close(w.df, 24.9, 0.1, 'df');
  close(w.p, 0.021, 0.002, 'p');
  assert.ok(welch([10, 10.1, 9.9], [9, 9.1, 8.9]).p < 0.01);
  assert.ok(welch([10, 12, 8, 11], [10.5, 9, 12, 9.5]).p > 0.3);
});
