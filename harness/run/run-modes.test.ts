import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestError, LabError } from '../errors.ts';
import { consoleTailLines } from './run-modes.ts';

test('a failed guest shows the end of its console in the terminal, marked with its backend; other errors show none', () => {
  const tail = Array.from({ length: 30 }, (_, i) => `line ${i}`);
  const lines = consoleTailLines(
    new GuestError('crashed', 'qemu guest ended without an exit marker (console: /o/qemu-console.log)', tail),
    'qemu',
  );
  assert.equal(lines[0], 'qemu: the last 12 console lines:');
  assert.deepEqual(
    lines.slice(1),
    tail.slice(-12).map((l) => `  qemu| ${l}`),
  );
  assert.deepEqual(consoleTailLines(new GuestError('timeout', 'timed out', []), 'qemu'), []);
  assert.deepEqual(consoleTailLines(new LabError('not a guest'), 'netns'), []);
});
