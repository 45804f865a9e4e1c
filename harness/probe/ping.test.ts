// A probe that did not run is an error, never "unreachable": each way ping can fail to run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProbeError, TimeoutError } from '../errors.ts';
import type { CommandResult } from '../kernel/exec.ts';
import type { NodeExecutor } from '../node/executor.ts';
import { probeMarker } from './marker.ts';
import { dfPasses, rttSamples } from './perf.ts';
import { parsePing, ping, pingOutcome } from './ping.ts';

/** An executor whose every command answers `r` (or throws it), for a node that may or may not exist. */
function stub(r: CommandResult | Error, exists = true): NodeExecutor {
  return {
    id: 'stub-ns',
    netnsPath: '/run/netns/stub-ns',
    run: async () => {
      if (r instanceof Error) throw r;
      return r;
    },
    spawn: () => {
      throw new Error('not used');
    },
    apply: async () => {},
    readFile: async () => '',
    exists: () => exists,
  };
}

const STATS_NONE = '--- 10.244.3.2 ping statistics ---\n3 packets transmitted, 0 received, 100% packet loss, time 2040ms\n';
const STATS_ALL = '3 packets transmitted, 3 received, 0% packet loss, time 101ms\nrtt min/avg/max/mdev = 0.040/0.052/0.061/0.008 ms\n';
const marker = probeMarker(1, 2);

test('replies and silence are verdicts: 3 of 3 received, 0 of 3 received', async () => {
  assert.deepEqual(await ping(stub({ exitCode: 0, stdout: STATS_ALL, stderr: '' }), '10.244.3.2', marker), {
    sent: 3,
    received: 3,
    rttMs: 0.052,
  });
  assert.deepEqual(await ping(stub({ exitCode: 1, stdout: STATS_NONE, stderr: '' }), '10.244.3.2', marker), { sent: 3, received: 0 });
});

test('ping exiting 2 is an error, not "unreachable"', async () => {
  await assert.rejects(
    ping(stub({ exitCode: 2, stdout: '', stderr: 'ping: connect: Network is unreachable\n' }), '10.244.3.2', marker),
    (e: unknown) => e instanceof ProbeError && /exited 2: ping: connect: Network is unreachable/.test(e.message),
  );
  // Even with statistics printed, exit 2 means something other than "no reply" went wrong.
  await assert.rejects(
    ping(stub({ exitCode: 2, stdout: STATS_NONE, stderr: 'ping: sendmsg: Operation not permitted' }), '10.244.3.2', marker),
    ProbeError,
  );
});

test('zero packets sent is an error', async () => {
  const out = '0 packets transmitted, 0 received\n';
  await assert.rejects(
    ping(stub({ exitCode: 1, stdout: out, stderr: '' }), '10.244.3.2', marker),
    (e: unknown) => e instanceof ProbeError && /sent no packet/.test(e.message),
  );
});

test('no statistics at all (nsenter failed, ping missing) is an error', async () => {
  await assert.rejects(
    ping(stub({ exitCode: 1, stdout: '', stderr: 'nsenter: cannot open /run/netns/x: No such file or directory' }), '10.244.3.2', marker),
    (e: unknown) => e instanceof ProbeError && /printed no statistics.*nsenter: cannot open/.test(e.message),
  );
  await assert.rejects(ping(stub({ exitCode: 127, stdout: '', stderr: 'ping: not found' }), '10.244.3.2', marker), ProbeError);
});

test('a node that is gone is an error before anything runs', async () => {
  await assert.rejects(
    ping(stub(new Error('must not run'), false), '10.244.3.2', marker),
    (e: unknown) => e instanceof ProbeError && /the node is gone/.test(e.message),
  );
});

test('a timeout is an error', async () => {
  await assert.rejects(
    ping(stub(new TimeoutError('ping in netns x to finish', '', 12_000)), '10.244.3.2', marker),
    (e: unknown) => e instanceof ProbeError && /timed out after 12000 ms/.test(e.message),
  );
});

test('exit 0 with no reply counted cannot happen honestly: an error', () => {
  assert.throws(() => pingOutcome(0, STATS_NONE, '', 'x'), ProbeError);
  assert.equal(parsePing('garbage'), undefined);
});

test('perf probes: a DF packet too big is a verdict; a ping that did not run is an error, not a smaller MTU', async () => {
  const tooBig = '1 packets transmitted, 0 received, 100% packet loss, time 0ms\n';
  const through = '1 packets transmitted, 1 received, 0% packet loss, time 0ms\nrtt min/avg/max/mdev = 0.061/0.061/0.061/0.000 ms\n';
  assert.equal(await dfPasses(stub({ exitCode: 0, stdout: through, stderr: '' }), '10.244.3.2', 1400), true);
  assert.equal(await dfPasses(stub({ exitCode: 1, stdout: tooBig, stderr: '' }), '10.244.3.2', 1500), false);
  await assert.rejects(
    dfPasses(stub({ exitCode: 2, stdout: '', stderr: 'ping: sendmsg: Operation not permitted' }), '10.244.3.2', 1400),
    ProbeError,
  );
  await assert.rejects(rttSamples(stub({ exitCode: 2, stdout: '', stderr: 'ping: unknown host' }), '10.244.3.2', 10), ProbeError);
  assert.deepEqual(
    await rttSamples(
      stub({ exitCode: 0, stdout: `64 bytes from x: icmp_seq=1 ttl=64 time=0.050 ms\n${through}`, stderr: '' }),
      '10.244.3.2',
      1,
    ),
    [50],
  );
});
