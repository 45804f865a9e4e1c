import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopologyError } from '../errors.ts';
import { formatCidr, formatIpv4 } from '../net/ipv4.ts';
import { loadTopology, parseTopology } from './load.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function issues(text: string) {
  try {
    parseTopology(text, 't.yaml');
  } catch (e) {
    assert.ok(e instanceof TopologyError, String(e));
    return e.issues;
  }
  assert.fail('expected a TopologyError');
}

test('the shipped default topology resolves to the documented addresses', async () => {
  const t = await loadTopology(`${ROOT}topologies/two-subnets.yaml`);
  assert.deepEqual(
    t.nodes.map((n) => [n.name, formatIpv4(n.ip), formatCidr(n.podSubnet), formatCidr(n.podBlock), n.subnet.name]),
    [
      ['n1', '172.31.10.11', '10.244.1.0/24', '10.244.0.64/26', 'a'],
      ['n2', '172.31.10.12', '10.244.2.0/24', '10.244.0.128/26', 'a'],
      ['n3', '172.31.20.11', '10.244.3.0/24', '10.244.0.192/26', 'b'],
    ],
  );
  assert.deepEqual(
    t.subnets.map((s) => formatIpv4(s.routerIp!)),
    ['172.31.10.1', '172.31.20.1'],
  );
  assert.deepEqual(
    t.nodes[0]!.pods.map((p) => p.id),
    ['n1/p1', 'n1/p2'],
  );
  const one = await loadTopology(`${ROOT}topologies/one-subnet.yaml`);
  assert.equal(one.router, undefined);
  assert.equal((await loadTopology(`${ROOT}topologies/two-subnets-rr.yaml`)).router?.bgpPeer, true);
});

test('every problem is reported at once, each with file, line, column, path and fix', () => {
  const got = issues(
    'name: x\nmtu: 99\nbogus: 1\nsubnets:\n  - { name: a, cidr: 10.0.0.0/24, vlan: 3 }\nnodes:\n  - { name: n1, subnet: a, color: red }\n',
  );
  assert.equal(got.length, 4);
  for (const i of got) {
    assert.equal(i.file, 't.yaml');
    assert.ok(i.line && i.column, JSON.stringify(i));
    assert.ok(i.fix.length > 5);
  }
  assert.deepEqual(got.map((i) => i.path).sort(), ['bogus', 'mtu', 'nodes[0].color', 'subnets[0].vlan']);
  assert.equal(got.find((i) => i.path === 'mtu')!.line, 2);
});

test('cross-field rules: unknown subnet, duplicate names, overlaps, a missing router, host bits', () => {
  const unknown = issues('name: x\nsubnets:\n  - { name: a, cidr: 10.0.0.0/24 }\nnodes:\n  - { name: n1, subnet: z }\n');
  assert.match(unknown[0]!.message, /no subnet named "z"/);
  assert.match(unknown[0]!.fix, /use one of: a/);
  assert.equal(unknown[0]!.line, 5);
  const dup = issues(
    'name: x\nsubnets:\n  - { name: a, cidr: 10.0.0.0/24 }\nnodes:\n  - { name: n1, subnet: a }\n  - { name: n1, subnet: a }\n',
  );
  assert.match(dup[0]!.message, /duplicate node name "n1"/);
  const noRouter = issues(
    'name: x\nsubnets:\n  - { name: a, cidr: 10.0.0.0/24 }\n  - { name: b, cidr: 10.0.1.0/24 }\nnodes:\n  - { name: n1, subnet: a }\n',
  );
  assert.equal(noRouter[0]!.path, 'router');
  const overlap = issues(
    'name: x\nsubnets:\n  - { name: a, cidr: 10.0.0.0/16 }\n  - { name: b, cidr: 10.0.1.0/24 }\nrouter: { name: r }\nnodes:\n  - { ' +
      'name: n1, subnet: a }\n',
  );
  assert.match(overlap[0]!.message, /overlaps subnet "a"/);
  const pods = issues('name: x\nsubnets:\n  - { name: a, cidr: 10.244.1.0/24 }\nnodes:\n  - { name: n1, subnet: a }\n');
  assert.match(pods[0]!.message, /overlaps podCidr/);
  const bits = issues('name: x\nsubnets:\n  - { name: a, cidr: 10.0.0.1/24 }\nnodes:\n  - { name: n1, subnet: a }\n');
  assert.match(bits[0]!.message, /host bits are set; the network is 10.0.0.0\/24/);
});

test('capacity and addresses: too many nodes for the pod network, explicit ips checked', () => {
  const nodes = Array.from({ length: 4 }, (_, i) => `  - { name: n${i}, subnet: a }`).join('\n');
  const full = issues(`name: x\npodCidr: 10.244.0.0/23\nsubnets:\n  - { name: a, cidr: 10.0.0.0/24 }\nnodes:\n${nodes}\n`);
  assert.ok(
    full.some((i) => i.path === 'subnetLen' && /holds 1 \/24 node subnets, not 4/.test(i.message)),
    JSON.stringify(full),
  );
  const outside = issues(
    'name: x\nsubnets:\n  - { name: a, cidr: 10.0.0.0/24 }\nrouter: { name: r }\nnodes:\n  - { name: n1, subnet: a, ip: 10.0.1.5 }\n',
  );
  assert.match(outside[0]!.message, /not a host address of subnet "a"/);
  const router = issues(
    'name: x\nsubnets:\n  - { name: a, cidr: 10.0.0.0/24 }\nrouter: { name: r }\nnodes:\n  - { name: n1, subnet: a, ip: 10.0.0.1 }\n',
  );
  assert.match(router[0]!.message, /router's address/);
});

test('pods as a count or as names; YAML syntax errors carry a line', () => {
  const t = parseTopology(
    'name: x\nsubnets:\n  - { name: a, cidr: 10.0.0.0/24 }\nnodes:\n  - { name: n1, subnet: a, pods: 3 }\n  - { name: n2, subnet: a, ' +
      'pods: [web, db] }\n',
  );
  assert.deepEqual(
    t.nodes.map((n) => n.pods.map((p) => p.name)),
    [
      ['p1', 'p2', 'p3'],
      ['web', 'db'],
    ],
  );
  const syntax = issues('name: x\nsubnets: [\n');
  assert.ok(syntax[0]!.line);
});

test('a missing file is a TopologyError naming it', async () => {
  await assert.rejects(
    loadTopology('/nonexistent/t.yaml'),
    (e: unknown) => e instanceof TopologyError && /\/nonexistent\/t\.yaml.*cannot read the file \(ENOENT\)/.test(e.message),
  );
});

test('flannel: and calico: sections set VNI, port and AS like net-conf.json and FELIX_VXLAN*', () => {
  const base = 'name: x\nsubnets:\n  - { name: a, cidr: 10.0.0.0/24 }\nnodes:\n  - { name: n1, subnet: a }\n';
  assert.deepEqual(parseTopology(base).settings, {
    flannel: { vni: 1, port: 8472 },
    calico: { vxlanVni: 4096, vxlanPort: 4789, asn: 64512 },
  });
  const t = parseTopology(`${base}flannel: { vni: 42, port: 4790 }\ncalico: { vxlanVni: 7, vxlanPort: 4791, asn: 65001 }\n`);
  assert.deepEqual(t.settings, { flannel: { vni: 42, port: 4790 }, calico: { vxlanVni: 7, vxlanPort: 4791, asn: 65001 } });
  const bad = issues(`${base}flannel: { vni: 0, Port: 1 }\n`);
  assert.deepEqual(bad.map((i) => i.path).sort(), ['flannel.Port', 'flannel.vni']);
});

const one = (extra: string, node = '{ name: n1, subnet: a, pods: 2 }') =>
  `name: x\n${extra}subnets:\n  - { name: a, cidr: 10.0.0.0/24 }\nnodes:\n  - ${node}\n`;

test('values that used to fail mid-build are rejected at load, with the fix', () => {
  const block = issues(one('blockSize: 32\n', '{ name: n1, subnet: a, pods: 1 }'));
  assert.match(block[0]!.message, /1 pods and the node's tunnel address do not fit a \/32 block \(room for 0 pods\)/);
  assert.match(issues(one('blockSize: 30\n', '{ name: n1, subnet: a, pods: 4 }'))[0]!.message, /room for 3 pods/);
  const vni = issues(one('flannel: { vni: 10000000 }\n'));
  assert.deepEqual([vni[0]!.path, vni[0]!.fix], ['flannel.vni', 'use a VNI of at most 9999999']);
  assert.match(vni[0]!.message, /flannel\.10000000, over Linux's 15 characters/);
});

test('reserved and special ranges are refused for pods and the underlay', () => {
  for (const [pod, what] of [
    ['127.0.0.0/16', 'loopback'],
    ['224.1.0.0/16', 'multicast'],
    ['0.0.0.0/8', '"this network"'],
    ['169.254.0.0/16', 'link-local'],
  ] as [string, string][]) {
    const i = issues(`name: x\npodCidr: ${pod}\nsubnets:\n  - { name: a, cidr: 10.0.0.0/24 }\nnodes:\n  - { name: n1, subnet: a }\n`);
    assert.ok(
      i.some((x) => x.path === 'podCidr' && x.message.includes(what)),
      `${pod}: ${JSON.stringify(i)}`,
    );
  }
  const u = issues('name: x\nsubnets:\n  - { name: a, cidr: 127.1.0.0/24 }\nnodes:\n  - { name: n1, subnet: a }\n');
  assert.ok(u.some((x) => x.path === 'subnets[0].cidr' && /loopback/.test(x.message)));
});

test('faults: the shipped example loads; each mistake is named with its fix', async () => {
  const t = await loadTopology(`${ROOT}topologies/two-subnets-faults.yaml`);
  assert.deepEqual(
    t.faults?.map((f) => [f.name, f.kind, f.link]),
    [
      ['lossy-n1', 'loss', 'n1'],
      ['n3-down', 'down', 'n3'],
      ['slow-n2', 'delay', 'n2'],
      ['router-blip', 'router-restart', 'router'],
    ],
  );
  const base = 'name: x\nsubnets:\n  - { name: a, cidr: 10.0.0.0/24 }\nnodes:\n  - { name: n1, subnet: a }\nfaults:\n';
  const one = (f: string) => issues(`${base}  - ${f}\n`);
  const flood = one('{ kind: flood, link: n1 }')[0]!;
  assert.match(`${flood.message}; ${flood.fix}`, /"flood" is not a valid fault kind; use one of loss, down, delay, router-restart/);
  assert.match(one('{ kind: loss, link: n9, percent: 5 }')[0]!.message, /"n9" is neither a node nor the router/);
  assert.match(one('{ kind: loss, link: n1 }')[0]!.path, /faults\[0\]\.percent/);
  assert.match(one('{ kind: down, link: n1, percent: 5 }')[0]!.message, /only a loss fault has a percent/);
  assert.match(one('{ kind: router-restart, link: router }')[0]!.message, /"router" is neither a node nor the router/);
  assert.match(one('{ kind: loss, link: n1, percent: 5, expect: { reachable: maybe } }')[0]!.fix, /kept, lost or any/);
  assert.match(one('{ kind: loss, link: n1, percent: 5, when: now }')[0]!.message, /when/);
});

test('a subnet with more ports than a Linux bridge has (1024) is refused at load, not 23 s into the build', () => {
  const nodes = Array.from({ length: 1023 }, (_, i) => `  - { name: n${i}, subnet: a, pods: [] }`).join('\n');
  const got = issues(
    `name: x\npodCidr: 10.0.0.0/8\nsubnetLen: 20\nblockSize: 20\nsubnets:\n  - { name: a, cidr: 172.16.0.0/16 }\nnodes:\n${nodes}\n`,
  );
  assert.equal(got.length, 1, JSON.stringify(got[0]));
  assert.match(got[0]!.message, /subnet "a" needs 1025 ports on its switch .* more than a Linux bridge has \(1024\)/);
  assert.equal(got[0]!.path, 'subnets[0]');
  assert.equal(got[0]!.line, 6);
  // 1022 nodes and the lab's etcd and API server fit.
  const fits = Array.from({ length: 1022 }, (_, i) => `  - { name: n${i}, subnet: a, pods: [] }`).join('\n');
  parseTopology(
    `name: x\npodCidr: 10.0.0.0/8\nsubnetLen: 20\nblockSize: 20\nsubnets:\n  - { name: a, cidr: 172.16.0.0/16 }\nnodes:\n${fits}\n`,
  );
});

test('YAML aliases are refused with their line (no alias object in a message, no alias bomb); values are cut', () => {
  const got = issues('name: &n x\nsubnets:\n  - { name: a, cidr: 10.0.0.0/24 }\nnodes:\n  - { name: *n, subnet: a }\n');
  assert.equal(got.length, 1);
  assert.equal(got[0]!.message, 'YAML alias *n is not allowed in a topology');
  assert.equal(got[0]!.line, 5);
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++)
    levels.push(
      `l${i}: &l${i} [${Array(9)
        .fill(i === 1 ? '*a' : `*l${i - 1}`)
        .join(', ')}]`,
    );
  assert.match(issues(`${levels.join('\n')}\n`)[0]!.message, /YAML alias \*a is not allowed/);
  const long = issues(
    `name: x\nmtu: "${'9'.repeat(100_000)}"\nsubnets:\n  - { name: a, cidr: 10.0.0.0/24 }\nnodes:\n  - { name: n1, subnet: a }\n`,
  );
  assert.ok(long[0]!.message.length < 200, long[0]!.message.slice(0, 300));
  assert.match(long[0]!.message, /more characters\)/);
});
