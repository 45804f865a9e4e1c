// The Calico modes that this kernel runs (BGP through real BIRD, VXLAN), their live transitions,
// and the route-reflector variant. IPIP needs the uml backend: test/uml-modes.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { assertEncap, assertPath, assertRunPassed, assertUnreachable } from '../assertions/index.ts';
import { birdInstances, birdProtocols } from '../harness/program/bird.ts';
import { checkMode } from '../harness/check/index.ts';
import { Lab } from '../harness/backends/netns/lab.ts';
import { getMode } from '../harness/modes/registry.ts';
import { loadTopology } from '../harness/topology/load.ts';
import { labProcesses, netnsOf, ROOT, ROOT_SKIP, tmpOut, uniqueLab } from './helpers.ts';

const routes = (netns: string) =>
  JSON.parse(execFileSync('ip', ['-n', netns, '-json', 'route', 'show'], { encoding: 'utf8' })) as {
    dst: string;
    protocol?: string;
    dev?: string;
    gateway?: string;
  }[];

describe('Calico modes on the two-subnets lab', { skip: ROOT_SKIP }, () => {
  const name = uniqueLab('ca');
  const out = tmpOut();
  let lab: Lab;

  before(async () => {
    lab = await Lab.up(await loadTopology(`${ROOT}/topologies/two-subnets.yaml`), getMode('calico-bgp'), { name });
  });
  after(async () => {
    await lab?.down();
    rmSync(out, { recursive: true, force: true });
    assert.deepEqual(netnsOf(name), []);
    assert.deepEqual(labProcesses(name), [], 'bird or tcpdump left running');
  });

  test('Calico pods: /32, default via 169.254.1.1, cali host side with proxy ARP and a /32 route', () => {
    const pod = lab.state.pods[0]!;
    const node = lab.names.node(pod.node);
    assert.match(pod.hostIf, /^cali[0-9a-f]{11}$/);
    const podRoutes = routes(pod.netns);
    assert.ok(podRoutes.some((r) => r.dst === 'default' && r.gateway === '169.254.1.1'));
    const link = JSON.parse(execFileSync('ip', ['-n', node, '-json', 'link', 'show', pod.hostIf], { encoding: 'utf8' }))[0];
    assert.equal(link.address, 'ee:ee:ee:ee:ee:ee');
    assert.equal(
      execFileSync('nsenter', [`--net=/run/netns/${node}`, 'cat', `/proc/sys/net/ipv4/conf/${pod.hostIf}/proxy_arp`], {
        encoding: 'utf8',
      }).trim(),
      '1',
    );
    assert.ok(routes(node).some((r) => r.dst === pod.ip && r.dev === pod.hostIf));
    assert.ok(routes(node).some((r) => r.dst === '10.244.0.64/26' && (r as { type?: string }).type === 'blackhole'));
  });

  test('calico-bgp: BIRD sessions Established, block routes are proto bird, cross-subnet fails without a BGP fabric', async () => {
    for (const i of birdInstances(lab.env)) {
      const p = await birdProtocols(i.exec, i.socket);
      assert.equal(p.size, i.peers, `${i.exec.id} sessions`);
      for (const [k, v] of p) assert.match(v.info, /Established/, `${i.exec.id} ${k}`);
    }
    const n1 = routes(lab.names.node('n1'));
    assert.deepEqual(
      n1
        .filter((r) => r.protocol === 'bird')
        .map((r) => r.dst)
        .sort(),
      ['10.244.0.128/26', '10.244.0.192/26'],
    );
    const r = await checkMode(lab, getMode('calico-bgp'), { outDir: out });
    assertRunPassed(r);
    assertPath(r, 'same-subnet', { reachable: true, encap: 'none' });
    assertUnreachable(r, 'n1/p1', 'n3/p1');
  });

  for (const [from, to] of [
    ['calico-bgp', 'calico-vxlan-always'],
    ['calico-vxlan-always', 'calico-vxlan-crosssubnet'],
    ['calico-vxlan-crosssubnet', 'calico-bgp'],
    ['calico-bgp', 'calico-vxlan-crosssubnet'],
    ['calico-vxlan-crosssubnet', 'calico-vxlan-always'],
  ] as const) {
    test(`live transition ${from} -> ${to} leaves nothing stale and passes every pair`, async () => {
      if (lab.mode?.name !== from) await lab.switchTo(getMode(from));
      const podsBefore = lab.state.pods.map((p) => p.hostIf);
      await lab.switchTo(getMode(to));
      assert.deepEqual(
        lab.state.pods.map((p) => p.hostIf),
        podsBefore,
        'pods kept within the family',
      );
      assert.deepEqual(await lab.staleState(), []);
      const r = await checkMode(lab, getMode(to), { outDir: out });
      assertRunPassed(r);
      if (to === 'calico-vxlan-always') assertPath(r, 'same-subnet', { encap: 'vxlan', vni: 4096, port: 4789 });
      if (to === 'calico-vxlan-crosssubnet') {
        assertPath(r, 'same-subnet', { encap: 'none' });
        assertEncap(r, 'n3/p2', 'n1/p1', 'vxlan', { vni: 4096, port: 4789 });
      }
      if (from === 'calico-bgp')
        assert.equal(routes(lab.names.node('n2')).filter((x) => x.protocol === 'bird').length, 0, 'BIRD routes withdrawn');
    });
  }

  test('the stale-state check is not blind: a leftover vxlan.calico route is reported', async () => {
    if (lab.mode?.name !== 'calico-bgp') await lab.switchTo(getMode('calico-bgp'));
    const node = lab.names.node('n1');
    execFileSync('ip', ['-n', node, 'link', 'add', 'vxlan.calico', 'type', 'vxlan', 'id', '4096', 'dstport', '4789', 'dev', 'eth0']);
    try {
      const stale = await lab.staleState();
      assert.ok(
        stale.some((s) => s.includes('vxlan.calico')),
        stale.join('; '),
      );
    } finally {
      execFileSync('ip', ['-n', node, 'link', 'del', 'vxlan.calico']);
    }
  });

  test('switching family rebuilds pods: flannel-vxlan after Calico, and back', async () => {
    await lab.switchTo(getMode('flannel-vxlan'));
    assert.ok(lab.state.pods.every((p) => p.hostIf.startsWith('veth')));
    assert.deepEqual(await lab.staleState(), []);
    assertRunPassed(await checkMode(lab, getMode('flannel-vxlan'), { outDir: out }));
    await lab.switchTo(getMode('calico-vxlan-always'));
    assert.ok(lab.state.pods.every((p) => p.hostIf.startsWith('cali')));
    const n1 = JSON.parse(execFileSync('ip', ['-n', lab.names.node('n1'), '-json', 'link', 'show'], { encoding: 'utf8' })) as {
      ifname: string;
    }[];
    assert.ok(!n1.some((l) => l.ifname === 'cni0' || l.ifname === 'flannel.1'), 'flannel devices removed');
    assertRunPassed(await checkMode(lab, getMode('calico-vxlan-always'), { outDir: out }));
  });
});

describe('calico-bgp with the router as route reflector', { skip: ROOT_SKIP }, () => {
  const name = uniqueLab('rr');
  const out = tmpOut();
  let lab: Lab | undefined;
  after(async () => {
    await lab?.down();
    rmSync(out, { recursive: true, force: true });
    assert.deepEqual(netnsOf(name), []);
  });

  test('cross-subnet pairs are reachable and plain; the router holds every block as proto bird', async () => {
    lab = await Lab.up(await loadTopology(`${ROOT}/topologies/two-subnets-rr.yaml`), getMode('calico-bgp'), { name });
    const r = await checkMode(lab, getMode('calico-bgp'), { outDir: out });
    assertRunPassed(r);
    assertPath(r, 'cross-subnet', { reachable: true, encap: 'none' });
    const rtr = routes(lab.names.router())
      .filter((x) => x.protocol === 'bird')
      .map((x) => x.dst)
      .sort();
    assert.deepEqual(rtr, ['10.244.0.128/26', '10.244.0.192/26', '10.244.0.64/26']);
  });
});
