import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManifestRejected } from './kube/client.ts';
import { errorLine, fromWire, GuestReported, SwitchRolledBack, toWire, UsageError } from './errors.ts';

test('errors keep their class, line and exit code across a guest boundary', () => {
  const back = (e: unknown) => fromWire(JSON.parse(JSON.stringify(toWire(e))));
  const rolled = back(SwitchRolledBack.of('calico-ipip-always', 'calico-bgp', new Error('BIRD did not start')));
  assert.ok(rolled instanceof SwitchRolledBack);
  assert.match(rolled.message, /^switch to calico-ipip-always failed and was rolled back to calico-bgp .*BIRD did not start$/);
  const rejected = back(new ManifestRejected('calico.yaml#3 IPPool default', 'spec.cidr: invalid'));
  assert.ok(rejected instanceof ManifestRejected, 'run-modes says a refused manifest as bad input by its class');
  assert.deepEqual(errorLine(rejected), {
    text: 'calico.yaml#3 IPPool default: the API server refused it: spec.cidr: invalid',
    exitCode: 2,
  });
  const usage = back(new UsageError('--mode is required', 'use one of: a, b'));
  assert.ok(usage instanceof UsageError);
  assert.equal(errorLine(usage).exitCode, 2);
  assert.equal(usage.message, '--mode is required\n    fix: use one of: a, b');
  // A class that does not cross is its line and exit code, never an internal error.
  class Other extends UsageError {}
  const other = back(Object.assign(new Other('x'), { name: 'Other' }));
  assert.ok(other instanceof GuestReported && !(other instanceof UsageError));
  assert.deepEqual(errorLine(other), { text: 'x', exitCode: 2 });
  const bare = back(new Error('boom'));
  assert.match(errorLine(bare).text, /^boom \(an internal error/);
});
