import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { readFileSync } from 'node:fs';
import { parseTopology } from '../topology/load.ts';
import { pathBetween } from '../topology/types.ts';
import { labNames } from '../plan/names.ts';
import { renderOp } from '../plan/ops.ts';
import { calicoPods } from '../plan/pods.ts';
import { nodeBirdConfig, routerBirdConfig } from './bird-config.ts';
import { DEFAULT_SETTINGS, kernelProgram, type ModeContext, type PodRuntime } from './mode.ts';
import { allModes, getMode, parseModeList } from './registry.ts';

const yaml = readFileSync(new URL('../../topologies/two-subnets.yaml', import.meta.url), 'utf8');
const two = parseTopology(yaml);
const rr = parseTopology(yaml.replace('name: r1', 'name: r1\n  bgpPeer: true'));
const names = labNames('m');
const flannelPods: PodRuntime[] = two.nodes.flatMap((n) =>
  n.pods.map((p, k) => ({
    node: n.name,
    name: p.name,
    id: p.id,
    netns: names.pod(n.name, p.name),
    ip: `10.244.${n.index + 1}.${k + 2}`,
    hostIf: `veth${n.index}${k}`,
  })),
);
const ctx = (mode: string, over: Partial<ModeContext> = {}): ModeContext => ({
  topology: two,
  names,
  pods: getMode(mode).family === 'flannel' ? flannelPods : calicoPods(two, names),
  settings: DEFAULT_SETTINGS,
  ...over,
});
const lines = (mode: string, node: string, c = ctx(mode)) =>
  kernelProgram(getMode(mode))!
    .plan(c)
    .filter((o) => o.netns === names.node(node))
    .map(renderOp);

test('every mode plans only inside the lab', () => {
  for (const m of allModes())
    for (const op of kernelProgram(m)?.plan(ctx(m.name)) ?? [])
      assert.ok(op.netns.startsWith('cnilab-m-'), `${m.name}: ${JSON.stringify(op)}`);
});

test('the oracle table: what each mode must show per path', () => {
  const [n1, n2, n3] = two.nodes;
  const table = Object.fromEntries(
    allModes().map((m) => [
      m.name,
      [n1, n2, n3]
        .map((b) => m.expect(n1!, b!, pathBetween(n1!, b!), { topology: two, settings: DEFAULT_SETTINGS }))
        .map((e) => (e.reachable ? e.encap + (e.vni ? `/${e.vni}/${e.port}` : '') : 'FAIL')),
    ]),
  );
  assert.deepEqual(table, {
    'flannel-host-gw': ['none', 'none', 'FAIL'],
    'flannel-vxlan': ['none', 'vxlan/1/8472', 'vxlan/1/8472'],
    'flannel-vxlan-directrouting': ['none', 'none', 'vxlan/1/8472'],
    'calico-bgp': ['none', 'none', 'FAIL'],
    'calico-ipip-always': ['none', 'ipip', 'ipip'],
    'calico-ipip-crosssubnet': ['none', 'none', 'ipip'],
    'calico-vxlan-always': ['none', 'vxlan/4096/4789', 'vxlan/4096/4789'],
    'calico-vxlan-crosssubnet': ['none', 'none', 'vxlan/4096/4789'],
    // The real daemon's modes must show what cnilab's model of the same backend shows; udp is its own.
    'flanneld-host-gw': ['none', 'none', 'FAIL'],
    'flanneld-vxlan': ['none', 'vxlan/1/8472', 'vxlan/1/8472'],
    'flanneld-vxlan-directrouting': ['none', 'none', 'vxlan/1/8472'],
    'flanneld-udp': ['none', 'udp', 'udp'],
    'calico-node-bgp': ['none', 'none', 'FAIL'],
    'calico-node-vxlan-always': ['none', 'vxlan/4096/4789', 'vxlan/4096/4789'],
    'calico-node-vxlan-crosssubnet': ['none', 'none', 'vxlan/4096/4789'],
    'calico-node-ipip-always': ['none', 'ipip', 'ipip'],
    'calico-node-ipip-crosssubnet': ['none', 'none', 'ipip'],
  });
  assert.equal(
    getMode('calico-bgp').expect(n1!, n3!, 'cross-subnet', { topology: rr, settings: DEFAULT_SETTINGS }).reachable,
    true,
    'route reflector makes it reachable',
  );
});

test('flannel vxlan: flannel.1, MTU ext-50, and per peer the route, neighbour and FDB entry flanneld writes', () => {
  const l = lines('flannel-vxlan', 'n1');
  assert.ok(
    l.includes(
      'link add name flannel.1 address 0e:00:ac:1f:0a:0b mtu 1450 type vxlan id 1 local 172.31.10.11 dev eth0 dstport 8472 nolearning',
    ),
  );
  assert.ok(l.includes('addr replace 10.244.1.0/32 dev flannel.1'));
  for (const [peer, ip, mac] of [
    ['2', '172.31.10.12', '0e:00:ac:1f:0a:0c'],
    ['3', '172.31.20.11', '0e:00:ac:1f:14:0b'],
  ]) {
    assert.ok(l.includes(`route replace 10.244.${peer}.0/24 via 10.244.${peer}.0 dev flannel.1 onlink`));
    assert.ok(l.includes(`neigh replace 10.244.${peer}.0 lladdr ${mac} dev flannel.1 nud permanent`));
    assert.ok(l.includes(`fdb append ${mac} dev flannel.1 dst ${ip} self permanent`));
  }
  const custom = lines(
    'flannel-vxlan',
    'n1',
    ctx('flannel-vxlan', { settings: { ...DEFAULT_SETTINGS, flannel: { vni: 42, port: 4790 } } }),
  );
  assert.ok(custom.some((x) => x.startsWith('link add name flannel.42 ') && x.includes('id 42') && x.includes('dstport 4790')));
  assert.ok(lines('flannel-vxlan', 'n1').includes('link set eth0 mtu 1450') === false, 'pod MTU is set in pod namespaces, not on the node');
});

test('host-gw routes only to on-link peers; DirectRouting mixes direct and VXLAN', () => {
  assert.deepEqual(
    lines('flannel-host-gw', 'n1').filter((x) => x.startsWith('route')),
    ['route replace 10.244.2.0/24 via 172.31.10.12 dev eth0'],
  );
  assert.deepEqual(
    lines('flannel-host-gw', 'n3').filter((x) => x.startsWith('route')),
    [],
  );
  const dr = lines('flannel-vxlan-directrouting', 'n1').filter((x) => x.startsWith('route'));
  assert.deepEqual(dr, [
    'route replace 10.244.2.0/24 via 172.31.10.12 dev eth0',
    'route replace 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink',
  ]);
});

test('Calico VXLAN and IPIP: devices, MTUs, felix routes, CrossSubnet going direct on one subnet', () => {
  const vx = lines('calico-vxlan-always', 'n1');
  assert.ok(vx.some((x) => /^link add name vxlan.calico .*mtu 1450 type vxlan id 4096 .*dstport 4789 nolearning$/.test(x)));
  assert.ok(vx.includes('route replace 10.244.0.192/26 via 10.244.0.192 dev vxlan.calico onlink'));
  const vxc = lines('calico-vxlan-crosssubnet', 'n1');
  assert.ok(vxc.includes('route replace 10.244.0.128/26 via 172.31.10.12 dev eth0 onlink proto 80'));
  assert.ok(vxc.includes('route replace 10.244.0.192/26 via 10.244.0.192 dev vxlan.calico onlink'));
  const ip = lines('calico-ipip-always', 'n1');
  assert.ok(ip.includes('link set tunl0 mtu 1480 up'));
  assert.ok(ip.includes('route replace 10.244.0.128/26 via 172.31.10.12 dev tunl0 onlink proto 80'));
  assert.ok(!lines('calico-ipip-crosssubnet', 'n1').some((x) => x.includes('10.244.0.128/26')), 'same-subnet block left to BIRD');
  assert.deepEqual(
    allModes().map((m) => m.podMtu(two)),
    [1500, 1450, 1450, 1500, 1480, 1480, 1450, 1450, 1500, 1450, 1450, 1472, 1500, 1450, 1450, 1480, 1480],
  );
});

test('parseModeList names every unknown mode and keeps repeats for transitions', () => {
  assert.throws(() => parseModeList('flannel-vxlan,weave,calico-gre'), /"weave", "calico-gre"[\s\S]*calico-vxlan-crosssubnet/);
  assert.deepEqual(
    parseModeList('calico-bgp,calico-vxlan-always,calico-bgp').map((m) => m.name),
    ['calico-bgp', 'calico-vxlan-always', 'calico-bgp'],
  );
});

test('BIRD configs: only the own block exported, mesh or reflector peers, kernel policy per mode; bird -p accepts them', () => {
  const n1 = two.nodes[0]!;
  const mesh = nodeBirdConfig(two, n1, { kernelExport: 'all' }, { asn: 64512, logFile: '/tmp/x.log' });
  assert.match(mesh, /route 10\.244\.0\.64\/26 blackhole/);
  assert.match(mesh, /if proto = "static_block" then accept;\s*reject;/);
  assert.equal((mesh.match(/^protocol bgp Mesh_/gm) ?? []).length, 2);
  assert.match(mesh, /neighbor 172\.31\.10\.12 as 64512;\s*source address 172\.31\.10\.11;\s*passive on/);
  assert.doesNotMatch(mesh, /protocol \w+ rr\b/);
  const viaRr = nodeBirdConfig(rr, n1, { kernelExport: 'none' }, { asn: 64512, logFile: '/tmp/x.log' });
  assert.equal((viaRr.match(/^protocol bgp /gm) ?? []).length, 1);
  assert.match(viaRr, /neighbor 172\.31\.10\.1 as 64512/);
  assert.match(viaRr, /reject; # felix programs every block route/);
  assert.match(
    nodeBirdConfig(two, n1, { kernelExport: 'same-subnet' }, { asn: 64512, logFile: '/tmp/x.log' }),
    /if bgp_next_hop ~ 172\.31\.10\.0\/24 then accept;/,
  );
  const router = routerBirdConfig(rr, { asn: 64512, logFile: '/tmp/r.log' });
  assert.equal((router.match(/^protocol bgp Client_/gm) ?? []).length, 3);
  assert.match(router, /rr client;/);
  assert.match(router, /export where source = RTS_BGP;/);
});

const BIRD = ['/usr/sbin/bird', '/usr/bin/bird'].find((p) => existsSync(p));
test('bird -p accepts every generated config', {
  skip: BIRD ? false : 'bird2 is not installed: the configs were not checked by bird -p',
}, () => {
  const n1 = two.nodes[0]!;
  const dir = mkdtempSync(`${tmpdir()}/cnilab-bird-`);
  try {
    const configs = [
      nodeBirdConfig(two, n1, { kernelExport: 'all' }, { asn: 64512, logFile: `${dir}/x.log` }),
      nodeBirdConfig(rr, n1, { kernelExport: 'none' }, { asn: 64512, logFile: `${dir}/x.log` }),
      nodeBirdConfig(two, n1, { kernelExport: 'same-subnet' }, { asn: 64512, logFile: `${dir}/x.log` }),
      routerBirdConfig(rr, { asn: 64512, logFile: `${dir}/r.log` }),
    ];
    configs.forEach((c, i) => {
      writeFileSync(`${dir}/${i}.conf`, c);
      execFileSync(BIRD!, ['-p', '-c', `${dir}/${i}.conf`], { stdio: 'pipe' });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
