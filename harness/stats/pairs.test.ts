import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decidePair, decidePairs, pairText } from './pairs.ts';
import { prng } from './random.ts';

/** Per-round values around `level`, each round's conditions shared by every mode (`drift`), plus own noise. */
function rounds(level: number, noise: number, n: number, seed: number, drift: readonly number[]): Map<number, number> {
  const r = prng(seed);
  return new Map(Array.from({ length: n }, (_, i) => [i, level * drift[i]! * (1 + noise * (r() - 0.5) * 2)]));
}
const drift = Array.from({ length: 200 }, (_, i) => 1 + 0.2 * Math.sin(i));

test('a clear difference is faster / slower by X% with an interval that excludes zero, whatever the rounds share', () => {
  const hostgw = { name: 'flannel-host-gw', perRound: rounds(0.95, 0.01, 6, 1, drift) };
  const vxlan = { name: 'flannel-vxlan', perRound: rounds(0.87, 0.01, 6, 2, drift) };
  const d = decidePair(hostgw, vxlan, 0.03);
  assert.equal(d.verdict, 'faster');
  assert.ok(d.diff > 0.07 && d.diff < 0.11 && d.lo > 0 && d.hi > d.diff, JSON.stringify(d));
  assert.equal(decidePair(vxlan, hostgw, 0.03).verdict, 'slower');
  assert.match(pairText(d, 0.03), /^flannel-host-gw vs flannel-vxlan: faster by \d+\.\d% \[\d+\.\d, \d+\.\d\]$/);
});

test('the same speed is equivalent within the margin once the interval fits inside it', () => {
  const a = { name: 'a', perRound: rounds(0.9, 0.005, 8, 3, drift) };
  const b = { name: 'b', perRound: rounds(0.9, 0.005, 8, 4, drift) };
  const d = decidePair(a, b, 0.03);
  assert.equal(d.verdict, 'equivalent', JSON.stringify(d));
  assert.ok(d.lo >= -0.03 && d.hi <= 0.03);
  assert.match(pairText(d, 0.03), /: equivalent within ±3\.0% \(/);
});

test('noisy rounds that cannot tell yet: undecided, with the rounds it would need; more rounds decide it', () => {
  const a = { name: 'a', perRound: rounds(0.92, 0.08, 3, 5, drift) };
  const b = { name: 'b', perRound: rounds(0.9, 0.08, 3, 6, drift) };
  const d = decidePair(a, b, 0.03);
  assert.equal(d.verdict, 'undecided', JSON.stringify(d));
  assert.ok(d.needed !== undefined && Number.isFinite(d.needed) && d.needed > 3, JSON.stringify(d));
  assert.match(pairText(d, 0.03), /: undecided \(.*needs ~\d+ more rounds\)$/);
  const more = decidePair(
    { name: 'a', perRound: rounds(0.92, 0.08, 200, 5, drift) },
    { name: 'b', perRound: rounds(0.9, 0.08, 200, 6, drift) },
    0.03,
  );
  assert.notEqual(more.verdict, 'undecided', JSON.stringify(more));
});

test('one shared round is no interval; pairs come in the modes order; only shared rounds count', () => {
  const one = decidePair(
    { name: 'a', perRound: new Map([[0, 1]]) },
    {
      name: 'b',
      perRound: new Map([
        [0, 2],
        [1, 2],
      ]),
    },
    0.03,
  );
  assert.deepEqual([one.verdict, one.rounds, one.needed], ['undecided', 1, Number.POSITIVE_INFINITY]);
  assert.match(pairText(one, 0.03), /too few rounds to tell/);
  const m = (name: string) => ({ name, perRound: rounds(1, 0.01, 4, name.length, drift) });
  assert.deepEqual(
    decidePairs([m('x'), m('yy'), m('zzz')], 0.03).map((p) => `${p.a}-${p.b}`),
    ['x-yy', 'x-zzz', 'yy-zzz'],
  );
});
