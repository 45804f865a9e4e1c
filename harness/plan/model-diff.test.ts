import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidr } from '../net/ipv4.ts';
import type { NodeKernelState } from './kernel-state.ts';
import { diffFacts, factDevice, kernelFacts, plannedFacts, removeFactsOps } from './model-diff.ts';
import type { KernelOp } from './ops.ts';

const pods = cidr('10.244.0.0/16');
const ns = 'cnilab-m-node-n1';
const plan: KernelOp[] = [
  {
    kind: 'vxlan-dev',
    netns: ns,
    name: 'flannel.1',
    vni: 1,
    port: 8472,
    local: '172.31.10.11',
    dev: 'eth0',
    mtu: 1450,
    mac: 'aa:aa:aa:aa:aa:01',
  },
  { kind: 'addr', netns: ns, dev: 'flannel.1', cidr: '10.244.1.0/32' },
  { kind: 'route', netns: ns, dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'flannel.1', onlink: true },
  { kind: 'neigh', netns: ns, ip: '10.244.2.0', mac: 'aa:aa:aa:aa:aa:02', dev: 'flannel.1' },
  { kind: 'fdb', netns: ns, mac: 'aa:aa:aa:aa:aa:02', dev: 'flannel.1', dst: '172.31.10.12' },
  { kind: 'link-set', netns: ns, name: 'cni0', mtu: 1450 },
  // Another node's ops are out of scope; the node's own blackhole is a fact (Calico writes one per block).
  { kind: 'route', netns: 'cnilab-m-node-n2', dst: '10.244.1.0/24', via: '10.244.1.0', dev: 'flannel.1', onlink: true },
  { kind: 'route', netns: ns, dst: '10.244.1.0/24', type: 'blackhole' },
];
const kernel: NodeKernelState = {
  node: 'n1',
  links: [
    { ifname: 'eth0', up: true, mtu: 1500, addrs: ['172.31.10.11/24'] },
    {
      ifname: 'flannel.1',
      kind: 'vxlan',
      up: true,
      mtu: 1450,
      addrs: ['10.244.1.0/32'],
      mac: 'aa:aa:aa:aa:aa:01',
      vxlan: { id: 1, port: 8472, local: '172.31.10.11', dev: 'eth0', learning: false },
    },
    { ifname: 'cni0', kind: 'bridge', up: true, mtu: 1450, addrs: ['10.244.1.1/24'] },
  ],
  routes: [
    { dst: 'default', gateway: '172.31.10.1', dev: 'eth0' },
    { dst: '10.244.1.0/24', dev: 'cni0', protocol: 'kernel' },
    { dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', onlink: true },
    { dst: '10.244.1.0/24', type: 'blackhole', protocol: '80' },
  ],
  neigh: [
    { dst: '10.244.2.0', dev: 'flannel.1', lladdr: 'aa:aa:aa:aa:aa:02', permanent: true },
    { dst: '172.31.10.12', dev: 'eth0', lladdr: 'bb:bb:bb:bb:bb:bb', permanent: false },
  ],
  fdb: [
    { mac: 'aa:aa:aa:aa:aa:02', ifname: 'flannel.1', dst: '172.31.10.12' },
    { mac: '33:33:00:00:00:01', ifname: 'eth0' },
  ],
};
const owned = (d: string) => d.startsWith('flannel.');

test('a plan and the kernel state it describes have the same facts, scoped to what the mode programs', () => {
  const model = plannedFacts(plan, ns, pods);
  assert.equal(model.size, 7);
  assert.ok(model.has('blackhole 10.244.1.0/24'));
  assert.deepEqual(diffFacts('n1', model, kernelFacts(kernel, pods, owned)), []);
});

test('every kind of difference is named, on the side that has it', () => {
  const k: NodeKernelState = {
    ...kernel,
    links: kernel.links.map((l) => (l.vxlan ? { ...l, mtu: 1400, vxlan: { ...l.vxlan, learning: true } } : l)),
    routes: [...kernel.routes, { dst: '10.244.3.0/24', gateway: '172.31.20.11', dev: 'eth0' }],
    fdb: [],
  };
  const d = diffFacts('n1', plannedFacts(plan, ns, pods), kernelFacts(k, pods, owned));
  assert.deepEqual(
    d.map((x) => `${x.only}: ${x.fact}`),
    [
      'model: link flannel.1 vxlan id 1 port 8472 local 172.31.10.11 dev eth0 nolearning mtu 1450 mac aa:aa:aa:aa:aa:01',
      'model: fdb aa:aa:aa:aa:aa:02 dev flannel.1 dst 172.31.10.12',
      'kernel: link flannel.1 vxlan id 1 port 8472 local 172.31.10.11 dev eth0 learning mtu 1400 mac aa:aa:aa:aa:aa:01',
      'kernel: route 10.244.3.0/24 via 172.31.20.11 dev eth0',
    ],
  );
});

test('facts name their device, and removing facts deletes a device once instead of what is on it', () => {
  assert.equal(factDevice('link flannel.1 vxlan id 1'), 'flannel.1');
  assert.equal(factDevice('route 10.244.2.0/24 via 172.31.10.12 dev eth0'), 'eth0');
  assert.equal(factDevice('mtu cni0 1450'), 'cni0');
  const ops = removeFactsOps(ns, [
    'link flannel.1 vxlan id 1 port 8472 local 172.31.10.11 dev eth0 nolearning mtu 1450 mac aa:aa:aa:aa:aa:01',
    'neigh 10.244.2.0 dev flannel.1 lladdr aa:aa:aa:aa:aa:02',
    'route 10.244.2.0/24 via 172.31.10.12 dev eth0',
    'fdb aa:aa:aa:aa:aa:03 dev vxlan.calico dst 172.31.10.13',
  ]);
  assert.deepEqual(ops, [
    { kind: 'link-del', netns: ns, name: 'flannel.1' },
    { kind: 'route', netns: ns, dst: '10.244.2.0/24', dev: 'eth0', del: true },
    { kind: 'fdb', netns: ns, mac: 'aa:aa:aa:aa:aa:03', dev: 'vxlan.calico', dst: '172.31.10.13', del: true },
  ]);
});

test("Calico's routed pods: the host side's MTU and MAC, its /32 route as `ip route` shows it (no length), the block's blackhole", () => {
  const calicoPlan: KernelOp[] = [
    { kind: 'route', netns: ns, type: 'blackhole', dst: '10.244.40.128/26' },
    { kind: 'veth', netns: ns, name: 'cali97dcbc93df0', peer: { netns: 'pod', name: 'eth0' }, mtu: 1450 },
    { kind: 'link-set', netns: ns, name: 'cali97dcbc93df0', mac: 'ee:ee:ee:ee:ee:ee', up: true },
    { kind: 'route', netns: ns, dst: '10.244.40.129/32', dev: 'cali97dcbc93df0', scope: 'link' },
  ];
  const k: NodeKernelState = {
    node: 'n1',
    links: [{ ifname: 'cali97dcbc93df0', kind: 'veth', up: true, mtu: 1450, addrs: [], mac: 'ee:ee:ee:ee:ee:ee' }],
    routes: [
      { dst: '10.244.40.128/26', type: 'blackhole', protocol: 'bird' },
      { dst: '10.244.40.129', dev: 'cali97dcbc93df0' },
    ],
    neigh: [],
    fdb: [],
  };
  const model = plannedFacts(calicoPlan, ns, pods);
  assert.deepEqual([...model].sort(), [
    'blackhole 10.244.40.128/26',
    'route 10.244.40.129/32 via - dev cali97dcbc93df0',
    'veth cali97dcbc93df0 mtu 1450 mac ee:ee:ee:ee:ee:ee',
  ]);
  const podVeths = (d: string) => d.startsWith('cali');
  assert.deepEqual(
    diffFacts(
      'n1',
      model,
      kernelFacts(k, pods, () => false, { podVeths }),
    ),
    [],
  );
  // A pod made with another MTU is a difference, named on both sides.
  const wrong = { ...k, links: [{ ...k.links[0]!, mtu: 1500 }] };
  assert.deepEqual(
    diffFacts(
      'n1',
      model,
      kernelFacts(wrong, pods, () => false, { podVeths }),
    ).map((d) => `${d.only}: ${d.fact}`),
    ['model: veth cali97dcbc93df0 mtu 1450 mac ee:ee:ee:ee:ee:ee', 'kernel: veth cali97dcbc93df0 mtu 1500 mac ee:ee:ee:ee:ee:ee'],
  );
});

test("Calico's tunl0: the fallback device's MTU and felix's tunnel address, on both sides", () => {
  const plan: KernelOp[] = [
    { kind: 'ipip-fallback', netns: ns, mtu: 1480 },
    { kind: 'addr', netns: ns, dev: 'tunl0', cidr: '10.244.40.128/32' },
  ];
  const k: NodeKernelState = {
    node: 'n1',
    links: [{ ifname: 'tunl0', kind: 'ipip', up: true, mtu: 1480, addrs: ['10.244.40.128/32'] }],
    routes: [],
    neigh: [],
    fdb: [],
  };
  const owned = (d: string) => d === 'tunl0';
  assert.deepEqual([...plannedFacts(plan, ns, pods)].sort(), ['addr tunl0 10.244.40.128/32', 'link tunl0 ipip mtu 1480']);
  assert.deepEqual(diffFacts('n1', plannedFacts(plan, ns, pods), kernelFacts(k, pods, owned)), []);
  const other = { ...k, links: [{ ...k.links[0]!, mtu: 1440 }] };
  assert.deepEqual(
    diffFacts('n1', plannedFacts(plan, ns, pods), kernelFacts(other, pods, owned)).map((d) => `${d.only}: ${d.fact}`),
    ['model: link tunl0 ipip mtu 1480', 'kernel: link tunl0 ipip mtu 1440'],
  );
});
