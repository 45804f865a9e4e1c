import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIperf, parseRttSamples } from '../probe/perf.ts';
import { perfNodePairs, prng, shuffle } from './measure.ts';
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
  assert.deepEqual(parseRttSamples('From 192.168.10.1 icmp_seq=1 Destination Net Unreachable\n'), []);
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
