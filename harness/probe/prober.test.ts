// The prober's answers and the reply deadline, on synthetic input: a result that is not a result is
// an error for its probe, never "unreachable"; the deadline follows the underlay, within its bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEADLINE_CAP_MS, DEADLINE_FLOOR_MS, DEADLINE_UNMEASURED_MS, replyDeadlineMs } from './deadline.ts';
import { endMarker, probeMarker } from './marker.ts';
import { answerOutcome, markerPayload, parseAnswer, parseMarked } from './prober.ts';

test('the deadline is many underlay round trips, never under the floor, and adds a declared delay', () => {
  assert.equal(replyDeadlineMs([0.02, 0.05]), DEADLINE_FLOOR_MS);
  assert.equal(replyDeadlineMs([30]), 600);
  assert.equal(replyDeadlineMs([1_000]), DEADLINE_CAP_MS);
  assert.equal(replyDeadlineMs([]), DEADLINE_UNMEASURED_MS);
  assert.equal(replyDeadlineMs([0.05], 400), DEADLINE_FLOOR_MS + 400);
});

test('a payload carries the marker at its start and repeats it', () => {
  const m = probeMarker(7, 300);
  const p = markerPayload(m);
  assert.equal(p.length, 56);
  assert.deepEqual([...p.subarray(0, 6)], [...m]);
  assert.deepEqual([...p.subarray(6, 12)], [...m]);
});

test('answers: every probe gets its result, and anything else is an error for each', () => {
  const ok = parseAnswer('{"results":[{"sent":3,"received":3,"rttsMs":[0.1,0.2,0.3]},{"sent":3,"received":0,"rttsMs":[]}]}', 2);
  assert.deepEqual(answerOutcome(ok[0]!), { reachable: true, rttMs: 0.2 });
  assert.deepEqual(answerOutcome(ok[1]!), { reachable: false });
  for (const [line, n] of [
    ['not json', 1],
    ['{"error":"ValueError: bad"}', 2],
    ['{"results":[]}', 1],
    ['{"results":[{"sent":"3"}]}', 1],
  ] as const) {
    const a = parseAnswer(line, n);
    assert.equal(a.length, n);
    for (const x of a) assert.ok('error' in answerOutcome(x), `${line} must be an error`);
  }
  assert.ok('error' in answerOutcome({ sent: 1, received: 2, rttsMs: [1, 1] }), 'more replies than requests');
  assert.deepEqual(answerOutcome({ error: 'cannot open' }), { error: 'cannot open' });
});

test('end marks: one answer per mark, a refusal kept as its reason; anything else leaves every mark unsent', () => {
  assert.deepEqual(parseMarked('{"marked":[null,"cannot send the end marker out of lo in x: No such device"]}', 2), [
    undefined,
    'cannot send the end marker out of lo in x: No such device',
  ]);
  assert.deepEqual(parseMarked('{"marked":[null]}', 2), ['prober: expected 2 marks', 'prober: expected 2 marks']);
  assert.deepEqual(parseMarked('{"error":"KeyError: marks"}', 1), ['prober: KeyError: marks']);
  assert.match(parseMarked('garbage', 1)[0]!, /^prober: not JSON/);
  // Each check's marker is its own: a capture holding an earlier check's end proves nothing.
  const [a, b] = [endMarker(), endMarker()];
  assert.equal(Buffer.from(a.subarray(0, 11)).toString(), 'cnilab:end:');
  assert.notDeepEqual(a, b);
});
