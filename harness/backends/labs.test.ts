import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LAB_KEEPERS } from './labs.ts';
import { BACKENDS } from './registry.ts';

test('labs.ts reaches labs through exactly the backends that keep them (Backend.attach), netns last', () => {
  const attaching = BACKENDS.flatMap((b) => (b.attach ? [b.attach] : []));
  assert.deepEqual(new Set(LAB_KEEPERS), new Set(attaching));
  assert.equal(LAB_KEEPERS.at(-1), BACKENDS.find((b) => b.name === 'netns')!.attach);
});
