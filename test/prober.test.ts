// The prober against a real lab: it agrees with ping (an independent tool) on every pair,
// "unreachable" is every request sent and none answered, a probe that cannot run is an error, and
// the warm-up leaves every neighbour a pair needs resolved before the measured probes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../harness/backends/netns/lab.ts';
import { warmUp } from '../harness/check/warmup.ts';
import { getMode } from '../harness/modes/registry.ts';
import { formatIpv4 } from '../harness/net/ipv4.ts';
import { netnsExecutor } from '../harness/node/netns.ts';
import { labNames } from '../harness/plan/names.ts';
import { probeMarker } from '../harness/probe/marker.ts';
import { ping } from '../harness/probe/ping.ts';
import { answerOutcome, markerPayload, startProber, type Prober } from '../harness/probe/prober.ts';
import { loadTopology } from '../harness/topology/load.ts';
import { labProcesses, netnsOf, ROOT, ROOT_SKIP, uniqueLab } from './helpers.ts';

describe('the prober on the two-subnets lab (flannel host-gw)', { skip: ROOT_SKIP }, () => {
  const name = uniqueLab('pr');
  let lab: Lab;
  let prober: Prober;

  before(async () => {
    lab = await Lab.up(await loadTopology(`${ROOT}/topologies/two-subnets.yaml`), getMode('flannel-host-gw'), { name });
    prober = startProber(labNames(name).prefix);
  });
  after(async () => {
    await prober?.close();
    await lab?.down();
    assert.deepEqual(netnsOf(name), [], 'namespaces left after down');
    assert.deepEqual(labProcesses(name), [], 'processes left after down');
  });

  const pairs = () => lab.pods.flatMap((src) => lab.pods.filter((d) => d.id !== src.id).map((dst) => ({ src, dst })));

  test('the warm-up resolves every neighbour a pair needs: pods to their node, nodes to each other', async () => {
    // Forget every neighbour first, so the warm-up has something to do.
    await Promise.all(
      [...lab.pods.map((p) => p.netns), ...lab.topology.nodes.map((n) => labNames(name).node(n.name))].map((ns) =>
        netnsExecutor(ns).run(['ip', 'neigh', 'flush', 'all']),
      ),
    );
    const probing = await warmUp(lab, prober);
    assert.equal(probing.warmup.answered, probing.warmup.probes, 'every warm-up probe answered');
    assert.ok(probing.deadlineMs >= 200);
    for (const n of lab.topology.nodes) {
      const neigh = (await lab.nodeExecutor(n.name).run(['ip', '-4', 'neigh', 'show'])).stdout;
      const resolved = (ip: string) => new RegExp(`^${ip.replaceAll('.', '\\.')} .* lladdr `, 'm').test(neigh);
      for (const p of lab.pods.filter((p) => p.node === n.name))
        assert.ok(resolved(p.ip), `${n.name} has resolved its pod ${p.ip}:\n${neigh}`);
      const peers = lab.topology.nodes.filter((m) => m.name !== n.name && m.subnet.name === n.subnet.name);
      for (const m of peers) assert.ok(resolved(formatIpv4(m.ip)), `${n.name} has resolved its peer ${m.name}:\n${neigh}`);
      const gw = n.subnet.routerIp;
      if (gw !== undefined) assert.ok(resolved(formatIpv4(gw)), `${n.name} has resolved the router:\n${neigh}`);
    }
  });

  test('prober and ping agree on every pair', async () => {
    const ps = pairs();
    const answers = await prober.round(
      ps.map((p, i) => ({ from: lab.executor(p.src.netns), dst: p.dst.ip, payload: markerPayload(probeMarker(1, i)), count: 3 })),
      { deadlineMs: 1_000 },
    );
    const byPing = await Promise.all(ps.map((p, i) => ping(lab.executor(p.src.netns), p.dst.ip, probeMarker(2, i), { count: 3 })));
    const disagree = ps.flatMap((p, i) => {
      const a = answerOutcome(answers[i]!);
      assert.ok(!('error' in a), `${p.src.id} -> ${p.dst.id}: ${'error' in a ? a.error : ''}`);
      return a.reachable === byPing[i]!.received > 0 ? [] : [`${p.src.id} -> ${p.dst.id}: prober ${a.reachable}, ping ${!a.reachable}`];
    });
    assert.deepEqual(disagree, []);
    // host-gw leaves the cross-subnet pairs unreachable: both tools must have seen some of each.
    assert.ok(byPing.some((r) => r.received === 0) && byPing.some((r) => r.received > 0));
  });

  test('unreachable is every request sent and none answered', async () => {
    const src = lab.pods.find((p) => p.id === 'n1/p1')!;
    const dst = lab.pods.find((p) => p.id === 'n3/p1')!;
    const [a] = await prober.round([{ from: lab.executor(src.netns), dst: dst.ip, payload: markerPayload(probeMarker(3, 0)), count: 4 }], {
      deadlineMs: 200,
    });
    assert.deepEqual(a, { sent: 4, received: 0, rttsMs: [] });
  });

  test('a probe that cannot run is an error, never unreachable', async () => {
    const gone = netnsExecutor(`${labNames(name).prefix}pod-nowhere`);
    const src = lab.pods[0]!;
    const [missing, fine] = await prober.round(
      [
        { from: gone, dst: src.ip, payload: markerPayload(probeMarker(4, 0)), count: 1 },
        { from: lab.executor(src.netns), dst: lab.pods[1]!.ip, payload: markerPayload(probeMarker(4, 1)), count: 1 },
      ],
      { deadlineMs: 500 },
    );
    assert.match('error' in missing! ? missing.error : '', /cannot open an ICMP socket/);
    assert.ok(fine && !('error' in fine) && fine.received === 1, 'the other source still probed');

    const closed = startProber(labNames(name).prefix);
    await closed.close();
    const [dead] = await closed.round(
      [{ from: lab.executor(src.netns), dst: lab.pods[1]!.ip, payload: markerPayload(probeMarker(4, 2)), count: 1 }],
      {
        deadlineMs: 200,
      },
    );
    assert.match('error' in dead! ? dead.error : '', /prober exited/);
  });
});
