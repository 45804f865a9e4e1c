import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTopology } from '../topology/load.ts';
import { allNetns, labNames, labOfNetns } from './names.ts';
import { renderOp, undoOps, type KernelOp } from './ops.ts';
import { planUnderlay } from './underlay.ts';
import { readFileSync } from 'node:fs';

const two = parseTopology(readFileSync(new URL('../../topologies/two-subnets.yaml', import.meta.url), 'utf8'));

test('ops render to the exact ip / bridge batch lines', () => {
  const cases: [KernelOp, string][] = [
    [
      { kind: 'veth', netns: 'a', name: 'n-n1', peer: { netns: 'b', name: 'eth0' }, mtu: 1500 },
      'link add name n-n1 mtu 1500 type veth peer name eth0 netns b mtu 1500',
    ],
    [
      {
        kind: 'vxlan-dev',
        netns: 'a',
        name: 'flannel.1',
        vni: 1,
        port: 8472,
        local: '172.31.10.11',
        dev: 'eth0',
        mtu: 1450,
        mac: '0e:00:ac:1f:0a:0b',
      },
      'link add name flannel.1 address 0e:00:ac:1f:0a:0b mtu 1450 type vxlan id 1 local 172.31.10.11 dev eth0 dstport 8472 nolearning',
    ],
    [
      { kind: 'route', netns: 'a', dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'flannel.1', onlink: true },
      'route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
    ],
    [{ kind: 'route', netns: 'a', dst: '10.244.0.64/26', type: 'blackhole' }, 'route replace blackhole 10.244.0.64/26'],
    [
      { kind: 'route', netns: 'a', dst: '10.244.0.128/26', via: '172.31.10.12', dev: 'eth0', proto: '80', del: true },
      'route del 10.244.0.128/26 dev eth0 proto 80',
    ],
    [
      { kind: 'neigh', netns: 'a', ip: '10.244.2.0', mac: '0e:00:ac:1f:0a:0c', dev: 'flannel.1' },
      'neigh replace 10.244.2.0 lladdr 0e:00:ac:1f:0a:0c dev flannel.1 nud permanent',
    ],
    [
      { kind: 'fdb', netns: 'a', mac: '0e:00:ac:1f:0a:0c', dev: 'flannel.1', dst: '172.31.10.12' },
      'fdb append 0e:00:ac:1f:0a:0c dev flannel.1 dst 172.31.10.12 self permanent',
    ],
    [{ kind: 'ipip-fallback', netns: 'a', mtu: 1480 }, 'link set tunl0 mtu 1480 up'],
    [{ kind: 'link-set', netns: 'a', name: 'cali1', mac: 'ee:ee:ee:ee:ee:ee', up: true }, 'link set cali1 address ee:ee:ee:ee:ee:ee up'],
    [{ kind: 'sysctl', netns: 'a', key: 'net.ipv4.ip_forward', value: '1' }, 'net.ipv4.ip_forward=1'],
  ];
  for (const [op, line] of cases) assert.equal(renderOp(op), line);
});

test('undo deletes created devices once and leaves their routes to the kernel; routes on kept devices are deleted, in reverse', () => {
  const ops: KernelOp[] = [
    { kind: 'vxlan-dev', netns: 'n', name: 'flannel.1', vni: 1, port: 8472, local: '1.1.1.1', dev: 'eth0', mtu: 1450, mac: 'x' },
    { kind: 'addr', netns: 'n', dev: 'flannel.1', cidr: '10.244.1.0/32' },
    { kind: 'fdb', netns: 'n', mac: 'm', dev: 'flannel.1', dst: '1.1.1.2' },
    { kind: 'route', netns: 'n', dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'flannel.1', onlink: true },
    { kind: 'route', netns: 'n', dst: '10.244.3.0/24', via: '1.1.1.3', dev: 'eth0' },
    { kind: 'ipip-fallback', netns: 'n', mtu: 1480 },
    { kind: 'addr', netns: 'n', dev: 'tunl0', cidr: '10.244.0.64/32' },
    { kind: 'sysctl', netns: 'n', key: 'k', value: '1' },
  ];
  assert.deepEqual(undoOps(ops).map(renderOp), [
    'addr del 10.244.0.64/32 dev tunl0',
    'link set tunl0 down',
    'route del 10.244.3.0/24 dev eth0',
    'link del flannel.1',
  ]);
});

test('the underlay plan stays inside the lab: every op names a namespace with the lab prefix', () => {
  const names = labNames('t1');
  const ops = planUnderlay(two, names);
  assert.ok(ops.length > 30);
  for (const op of ops) {
    assert.ok(op.netns.startsWith('cnilab-t1-'), JSON.stringify(op));
    if (op.kind === 'veth') assert.ok(op.peer.netns.startsWith('cnilab-t1-'));
  }
  const ns = allNetns(names, two);
  assert.equal(ns.length, 3 + 6 + 2 + 1);
  for (const n of ns) assert.equal(labOfNetns(n), 't1');
  const fwd = ops
    .filter((o) => o.kind === 'sysctl' && o.key === 'net.ipv4.ip_forward')
    .map((o) => o.netns)
    .sort();
  assert.deepEqual(fwd, ['cnilab-t1-node-n1', 'cnilab-t1-node-n2', 'cnilab-t1-node-n3', 'cnilab-t1-rtr']);
  const defaults = ops.filter((o) => o.kind === 'route' && o.dst === 'default').map((o) => o.kind === 'route' && o.via);
  assert.deepEqual(defaults, ['172.31.10.1', '172.31.10.1', '172.31.20.1']);
});

test('interface names fit IFNAMSIZ even with 10-character names', () => {
  const t = parseTopology(
    'name: x\nsubnets:\n  - { name: abcdefghij, cidr: 10.0.0.0/24 }\n  - { name: b, cidr: 10.0.1.0/24 }\nrouter: { name: r ' +
      '}\nnodes:\n  - { name: nodenamexy, subnet: abcdefghij }\n',
  );
  for (const op of planUnderlay(t, labNames('abcdefghijkl'))) {
    for (const name of [('name' in op && op.name) || '', op.kind === 'veth' ? op.peer.name : '']) assert.ok(name.length <= 15, name);
  }
  assert.throws(() => labNames('Bad-Name'), /1-12 lowercase/);
  assert.equal(labOfNetns('cnilab-abc-pod-n1-p1'), 'abc');
  assert.equal(labOfNetns('other-ns'), undefined);
});

test("the flannel plugin's delegate: a cni-conf.json's fields win, subnet.env fills the rest (cni-plugin doCmdAdd)", async () => {
  const { flannelBridgeConfig, flannelPluginConf } = await import('./pods.ts');
  const { parseCidr } = await import('../net/ipv4.ts');
  const lease = { subnet: parseCidr('10.244.1.0/24') as never, network: parseCidr('10.244.0.0/16') as never, mtu: 1450, ipMasq: true };
  const conf = flannelPluginConf(
    JSON.stringify({
      name: 'cbr0',
      cniVersion: '0.3.1',
      plugins: [{ type: 'flannel', delegate: { hairpinMode: true, mtu: 1400 } }, { type: 'portmap' }],
    }),
  );
  assert.ok(typeof conf !== 'string');
  const c = flannelBridgeConfig(lease, 'n1', '/ipam', conf) as Record<string, unknown>;
  assert.equal(c.type, 'bridge');
  assert.equal(c.mtu, 1400, "the delegate's mtu wins over subnet.env's");
  assert.equal(c.ipMasq, false, 'flanneld masquerades (FLANNEL_IPMASQ=true), so the bridge does not');
  assert.equal(c.isGateway, true);
  assert.equal(c.hairpinMode, true);
  assert.equal(c.cniVersion, '0.3.1');
  assert.equal(c.isDefaultGateway, undefined, 'not set by this delegate, not added');
  assert.equal(flannelPluginConf('{"plugins":[{"type":"bridge"}]}'), 'no plugin of type "flannel" in it');
});

test("a CNI config list as a runtime runs it: kube-flannel.yml's chain, the lab's paths in flannel's entry, no path type", async () => {
  const { cniChain, cniConfList, KUBE_FLANNEL_CONFLIST } = await import('./pods.ts');
  const { readInputs } = await import('../conform/inputs.ts');
  const cm = readInputs([new URL('../../test/fixtures/kube/kube-flannel.yml', import.meta.url).pathname]).find(
    (d) => d.kind === 'ConfigMap',
  )!;
  const list = cniConfList((cm.value as { data: Record<string, string> }).data['cni-conf.json']!);
  assert.ok(typeof list !== 'string', String(list));
  assert.deepEqual(list, KUBE_FLANNEL_CONFLIST, "cnilab's default is kube-flannel.yml's own");
  const paths = { subnetFile: '/lab/flannel/n1/subnet.env', dataDir: '/lab/flannel-cni/n1', ipamDir: '/lab/ipam/n1' };
  const chain = cniChain(
    { ...list, plugins: [{ ...list.plugins[0]!, ipam: { dataDir: '/etc' }, dataDir: '/etc' }, list.plugins[1]!] },
    paths,
    1400,
  );
  assert.deepEqual(
    chain.map((l) => l.type),
    ['flannel', 'portmap'],
  );
  assert.deepEqual(chain[0]!.config, {
    type: 'flannel',
    name: 'cbr0',
    cniVersion: '0.3.1',
    subnetFile: paths.subnetFile,
    dataDir: paths.dataDir,
    ipam: { type: 'host-local', dataDir: paths.ipamDir },
    delegate: { hairpinMode: true, isDefaultGateway: true, mtu: 1400 },
  });
  assert.deepEqual(chain[1]!.config, { type: 'portmap', capabilities: { portMappings: true }, name: 'cbr0', cniVersion: '0.3.1' });
  // A single-plugin .conf is a list of one, as libcni reads it.
  const single = cniConfList('{"name":"x","cniVersion":"1.0.0","type":"flannel","delegate":{}}');
  assert.ok(typeof single !== 'string' && single.plugins.length === 1 && single.plugins[0]!.type === 'flannel');
  for (const type of ['../../bin/sh', '/bin/sh', 'sub/dir', '..'])
    assert.match(String(cniConfList(JSON.stringify({ plugins: [{ type: 'flannel' }, { type }] }))), /is not a plugin's file name/, type);
});
