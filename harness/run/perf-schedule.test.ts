// When each backend measures and with how much of the budget: pure, so tested without a lab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GUEST_MIN_ROUNDS, perfOptionsFor, perfSchedule, waitsFor } from './perf-schedule.ts';

const opts = { rounds: 3, seconds: 0.5, rttCount: 50, streams: 4, budgetMs: 180_000, target: 0.05 };

test('guests measure alongside the host only when the cores hold both; else first, one at a time', () => {
  assert.equal(perfSchedule([], 2, 180_000).guests, 'none');
  // Two cores: the host's pinned sender and receiver take both, so a 2-CPU qemu guest goes first.
  assert.deepEqual(perfSchedule([2], 2, 180_000), { guests: 'first', cpus: 2, guestCpus: 2, budgetMs: 180_000 });
  assert.equal(perfSchedule([2], 3, 180_000).guests, 'first');
  assert.equal(perfSchedule([2], 4, 180_000).guests, 'alongside');
  assert.equal(perfSchedule([1, 2], 4, 180_000).guests, 'first', 'two guests count their CPUs together');
  assert.equal(perfSchedule([1, 2], 5, undefined).guests, 'alongside');
});

test('who waits for whom: the host for every guest when they go first; guests for the guests before them', () => {
  const first = perfSchedule([2, 1], 2, 180_000);
  assert.deepEqual(waitsFor(['host', 'guest', 'guest'], first), [[1, 2], [], [1]]);
  const alongside = perfSchedule([2], 8, 180_000);
  assert.deepEqual(waitsFor(['host', 'guest'], alongside), [[], []]);
  assert.deepEqual(waitsFor(['host'], perfSchedule([], 2, 180_000)), [[]]);
});

test('the budget counts from the start of the run: the host gets what is left, a guest going first its share', () => {
  const s = perfSchedule([2], 2, 180_000);
  // 100 s into the run (checks, guests): 80 s left for the host's rounds.
  assert.equal(perfOptionsFor('host', s, opts, 100_000).budgetMs, 80_000);
  // Past the budget: nothing left, and the stopping rule still does the minimum rounds.
  assert.equal(perfOptionsFor('host', s, opts, 200_000).budgetMs, 0);
  const g = perfOptionsFor({ guests: 1 }, s, opts, 60_000);
  assert.equal(g.budgetMs, 18_000, 'a tenth of the budget');
  assert.equal(g.rounds, GUEST_MIN_ROUNDS);
  assert.equal(g.streams, 1, 'no parallel streams under emulation');
  // Alongside the host, a guest may use what is left too.
  assert.equal(perfOptionsFor({ guests: 1 }, perfSchedule([2], 8, 180_000), opts, 60_000).budgetMs, 120_000);
  // No budget: fixed rounds, unchanged.
  const fixed = { ...opts, budgetMs: undefined };
  assert.deepEqual(perfOptionsFor('host', s, fixed, 100_000), fixed);
});
