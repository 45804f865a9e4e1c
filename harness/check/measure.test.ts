import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeExecutor } from '../node/executor.ts';
import { iperfLength, iperfLengthArgs, maxDfPayload, parseIperf, parsePerfCycles, parseRttSamples } from '../probe/perf.ts';
import { perfNodePairs, prng, shuffle } from './measure.ts';
import { pairedRatio } from './summarize.ts';
import { parseTopology } from '../topology/load.ts';

test('RTT samples from ping output, in microseconds', () => {
  const out =
    'PING 10.244.2.2 (10.244.2.2) 56(84) bytes of data.\n64 bytes from 10.244.2.2: icmp_seq=1 ttl=62 time=0.073 ms\n64 bytes from ' +
    '10.244.2.2: icmp_seq=2 ttl=62 time=0.185 ms\n\n--- 10.244.2.2 ping statistics ---\n2 packets transmitted, 2 received, 0% ' +
    'packet loss, time 1020ms\nrtt min/avg/max/mdev = 0.073/0.129/0.185/0.056 ms\n';
  assert.deepEqual(
    parseRttSamples(out).map((x) => Math.round(x)),
    [73, 185],
  );
  assert.deepEqual(parseRttSamples('From 172.31.10.1 icmp_seq=1 Destination Net Unreachable\n'), []);
});

test('iperf3 JSON: received rate, bytes and CPU seconds; errors surface', () => {
  const j = JSON.stringify({
    end: {
      sum_received: { bits_per_second: 2.5e10, bytes: 3.125e9, seconds: 1 },
      cpu_utilization_percent: { host_total: 80, remote_total: 60 },
    },
  });
  const r = parseIperf(j);
  assert.equal(r.gbps, 25);
  assert.equal(r.bytes, 3.125e9);
  assert.ok(Math.abs(r.cpuSeconds - 1.4) < 1e-9);
  assert.throws(() => parseIperf(JSON.stringify({ error: 'unable to connect to server' })), /unable to connect/);
});

test('seeded shuffles are reproducible and permutations', () => {
  const a = shuffle(['u', 'a', 'b', 'c', 'd'], prng(42));
  assert.deepEqual(shuffle(['u', 'a', 'b', 'c', 'd'], prng(42)), a);
  assert.deepEqual([...a].sort(), ['a', 'b', 'c', 'd', 'u']);
  const orders = new Set(Array.from({ length: 20 }, (_, i) => shuffle([1, 2, 3, 4], prng(i)).join()));
  assert.ok(orders.size > 5, 'different seeds give different orders');
});

test('perf pairs: one same-subnet and one cross-subnet pair, nodes with pods only', () => {
  const t = parseTopology(
    'name: t\nsubnets:\n  - {name: a, cidr: 192.168.1.0/24}\n  - {name: b, cidr: 192.168.2.0/24}\nrouter: {name: r}\nnodes:\n  - ' +
      '{name: n1, subnet: a, pods: 0}\n  - {name: n2, subnet: a}\n  - {name: n3, subnet: a}\n  - {name: n4, subnet: b}\n',
  );
  assert.deepEqual(
    perfNodePairs(t.nodes).map((p) => [p.path, p.a.name, p.b.name]),
    [
      ['same-subnet', 'n2', 'n3'],
      ['cross-subnet', 'n2', 'n4'],
    ],
  );
});

test('a ratio pairs each mode test with the mean of its own round underlay tests', () => {
  // Round 0 was slow for everything, round 1 fast: per-round pairing cancels it, exactly.
  const mode = [
    { v: 8, round: 0 },
    { v: 16, round: 1 },
  ];
  const under = [
    { v: 9, round: 0 },
    { v: 11, round: 0 },
    { v: 20, round: 1 },
    { v: 20, round: 1 },
  ];
  const r = pairedRatio(mode, under);
  assert.equal(r.mean, 0.8);
  assert.equal(r.ci95, 0, 'the same ratio in both rounds');
  // A round without an underlay test drops out rather than pairing with another round's.
  const missing = pairedRatio([...mode, { v: 5, round: 2 }], under);
  assert.equal(missing.mean, 0.8);
  // Untagged values of equal count pair by position; otherwise the ratio of the means.
  assert.equal(pairedRatio([{ v: 2 }, { v: 4 }], [{ v: 4 }, { v: 8 }]).mean, 0.5);
  assert.ok(Math.abs(pairedRatio([{ v: 2 }, { v: 4 }], [{ v: 4 }, { v: 8 }, { v: 6 }]).mean - 0.5) < 1e-9);
});

test('iperf3 test length: whole seconds until the path has a rate, then a byte count for the fraction asked', () => {
  assert.deepEqual(iperfLength(0.5, undefined), { seconds: 1 });
  assert.deepEqual(iperfLengthArgs(iperfLength(0.5, undefined)), ['-t', '1']);
  // 16 Gbit/s for half a second: 1 GB.
  assert.deepEqual(iperfLength(0.5, 16), { bytes: 1e9, expectSeconds: 0.5 });
  assert.deepEqual(iperfLengthArgs(iperfLength(0.5, 16)), ['-n', '1000000000']);
  // A slow path (flanneld udp) still sends a meaningful amount.
  assert.deepEqual(iperfLengthArgs(iperfLength(0.5, 0.001)), ['-n', '1000000']);
  assert.deepEqual(iperfLengthArgs({ seconds: 2.5 }), ['-t', '3']);
});

test('the largest DF payload: two probes when the pod MTU is the boundary, a search when it is not', async () => {
  const prober = (limit: number) => {
    const sizes: number[] = [];
    const exec = {
      id: 'fake',
      netnsPath: '/run/netns/fake',
      run: async (argv: string[]) => {
        const size = Number(argv[argv.indexOf('-s') + 1]);
        sizes.push(size);
        const ok = size <= limit;
        return {
          exitCode: ok ? 0 : 1,
          stdout: `1 packets transmitted, ${ok ? 1 : 0} received, ${ok ? 0 : 100}% packet loss, time 0ms\n`,
          stderr: '',
        };
      },
      spawn: () => {
        throw new Error('not used');
      },
      apply: async () => {},
      readFile: async () => '',
      exists: () => true,
    } as unknown as NodeExecutor;
    return { exec, sizes };
  };
  const a = prober(1422);
  assert.equal(await maxDfPayload(a.exec, '10.0.0.2', 500, 1536, 1422), 1422);
  assert.deepEqual(a.sizes, [1422, 1423]);
  // The path carries less than the pod MTU allows (a black hole for big packets): found by search.
  const b = prober(1400);
  assert.equal(await maxDfPayload(b.exec, '10.0.0.2', 500, 1536, 1422), 1400);
  // More than the guess passes (fragmentation, or a pod MTU set too low): found above it.
  const c = prober(1472);
  assert.equal(await maxDfPayload(c.exec, '10.0.0.2', 500, 1536, 1422), 1472);
  const none = prober(100);
  assert.equal(await maxDfPayload(none.exec, '10.0.0.2', 500, 1536, 1422), 0);
});

test('perf stat output: cycles counted, or why not', () => {
  assert.equal(parsePerfCycles('123456789,,cycles,2000000,100.00,,\n'), 123456789);
  assert.equal(parsePerfCycles('<not supported>,,cycles,0,100.00,,\n'), '<not supported>');
  assert.equal(parsePerfCycles('55,,cycles:u,1,100.00,,\n'), 55);
  assert.equal(parsePerfCycles('garbage'), 'no cycles line');
});
