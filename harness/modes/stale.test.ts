import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidr } from '../net/ipv4.ts';
import { getMode } from './registry.ts';
import type { KernelOp } from '../plan/ops.ts';
import { parseSnapshot } from '../node/snapshot.ts';
import type { NodeKernelState } from '../plan/kernel-state.ts';
import { allModes } from './registry.ts';
import { findStale } from './stale.ts';

const base = (over: Partial<NodeKernelState> = {}): NodeKernelState => ({
  node: 'n1',
  links: [
    { ifname: 'lo', up: true, mtu: 65536, addrs: [] },
    { ifname: 'eth0', kind: 'veth', up: true, mtu: 1500, addrs: ['172.31.10.11/24'] },
    { ifname: 'tunl0', kind: 'ipip', up: false, mtu: 1480, addrs: [] },
  ],
  routes: [
    { dst: 'default', gateway: '172.31.10.1', dev: 'eth0' },
    { dst: '10.244.0.64/26', type: 'blackhole' },
    { dst: '10.244.0.65', dev: 'cali1' },
  ],
  neigh: [],
  fdb: [],
  ...over,
});
const podCidr = cidr('10.244.0.0/16');
const felix: KernelOp[] = [
  { kind: 'route', netns: 'ns', dst: '10.244.0.128/26', via: '10.244.0.128', dev: 'vxlan.calico', onlink: true, proto: '80' },
];

test('a clean node has nothing stale', () => {
  assert.deepEqual(findStale(base(), { podCidr, mode: getMode('calico-bgp'), modeOps: [], netns: 'ns', modes: allModes() }), []);
});

test('leftovers of another mode are each named', () => {
  const s = base({
    links: [
      ...base().links.filter((l) => l.ifname !== 'tunl0'),
      { ifname: 'tunl0', kind: 'ipip', up: true, mtu: 1480, addrs: ['10.244.0.64/32'] },
      { ifname: 'flannel.1', kind: 'vxlan', up: true, mtu: 1450, addrs: [] },
    ],
    routes: [
      ...base().routes,
      { dst: '10.244.0.192/26', gateway: '172.31.10.12', dev: 'tunl0', protocol: '80' },
      { dst: '10.244.9.0/26', dev: 'eth0', protocol: '80' },
      { dst: '10.244.8.0/26', gateway: '172.31.10.12', dev: 'eth0', protocol: 'bird' },
    ],
    neigh: [{ dst: '10.244.2.0', dev: 'flannel.1', lladdr: 'x', permanent: true }],
    fdb: [{ mac: 'x', ifname: 'flannel.1', dst: '172.31.10.12' }],
  });
  const stale = findStale(s, { podCidr, mode: getMode('calico-vxlan-always'), modeOps: felix, netns: 'ns', modes: allModes() });
  const want = [
    /tunl0 still up with 10\.244\.0\.64\/32/,
    /device flannel\.1/,
    /route 10\.244\.0\.192\/26 .*dev tunl0 left behind/,
    /felix route 10\.244\.9\.0\/26/,
    /BIRD route 10\.244\.8\.0\/26 survives/,
    /permanent neighbour 10\.244\.2\.0 on flannel\.1/,
    /FDB x dst 172\.31\.10\.12 on flannel\.1/,
    /planned route 10\.244\.0\.128\/26 is missing/,
  ];
  for (const re of want)
    assert.ok(
      stale.some((x) => re.test(x)),
      `${re} in ${stale.join(' | ')}`,
    );
  assert.equal(stale.length, want.length);
});

test("a device a real daemon left, recorded as its fact, is not cnilab's stale state; everything else still is", () => {
  const s = base({
    links: [...base().links, { ifname: 'flannel.1', kind: 'vxlan', up: true, mtu: 1450, addrs: [] }],
    neigh: [{ dst: '10.244.2.0', dev: 'flannel.1', lladdr: 'x', permanent: true }],
    fdb: [{ mac: 'x', ifname: 'flannel.1', dst: '172.31.10.12' }],
  });
  const ctx = { podCidr, mode: getMode('flanneld-host-gw'), modeOps: [], netns: 'ns', modes: allModes() };
  assert.equal(findStale(s, ctx).length, 3);
  assert.deepEqual(
    findStale(s, { ...ctx, recordedElsewhere: ['flannel.1'] }).filter((x) => /flannel\.1/.test(x)),
    [],
  );
});

test('snapshots parse real ip -json / bridge -json output', () => {
  const addr = JSON.stringify([
    {
      ifindex: 1,
      ifname: 'lo',
      flags: ['LOOPBACK', 'UP', 'LOWER_UP'],
      mtu: 65536,
      addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }],
    },
    {
      ifindex: 6,
      ifname: 'flannel.1',
      flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
      mtu: 1450,
      linkinfo: { info_kind: 'vxlan', info_data: { id: 1 } },
      addr_info: [{ family: 'inet', local: '10.244.1.0', prefixlen: 32 }],
    },
  ]);
  const route =
    '[{"dst":"default","gateway":"172.31.10.1","dev":"eth0","flags":[]},{' +
    '"dst":"10.244.2.0/24","gateway":"10.244.2.0","dev":"flannel.1","flags":["onlink"]},{' +
    '"type":"blackhole","dst":"10.244.0.64/26","flags":[]},{' +
    '"dst":"10.244.0.128/26","gateway":"172.31.10.12","dev":"eth0","protocol":"bird","metric":32,"flags":[]}]';
  const neigh = '[{"dst":"10.244.2.0","dev":"flannel.1","lladdr":"0e:00:ac:1f:0a:0c","state":["PERMANENT"]}]';
  const fdb = '[{"mac":"0e:00:ac:1f:0a:0c","ifname":"flannel.1","dst":"172.31.10.12","flags":["self"],"state":"permanent"}]';
  const s = parseSnapshot('n1', [addr, route, neigh, fdb].join('@@cnilab@@'));
  assert.deepEqual(s.links[1], {
    ifname: 'flannel.1',
    kind: 'vxlan',
    up: true,
    mtu: 1450,
    addrs: ['10.244.1.0/32'],
    // What ip -d -json leaves out is what the kernel defaults to (learning on).
    vxlan: { id: 1, port: 0, learning: true },
  });
  assert.deepEqual(s.routes[1], { dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', onlink: true });
  assert.deepEqual(s.routes[3], { dst: '10.244.0.128/26', gateway: '172.31.10.12', dev: 'eth0', protocol: 'bird' });
  assert.deepEqual(s.routes[2], { dst: '10.244.0.64/26', type: 'blackhole' });
  assert.deepEqual(s.neigh, [{ dst: '10.244.2.0', dev: 'flannel.1', lladdr: '0e:00:ac:1f:0a:0c', permanent: true }]);
  assert.deepEqual(s.fdb, [{ mac: '0e:00:ac:1f:0a:0c', ifname: 'flannel.1', dst: '172.31.10.12' }]);
});
