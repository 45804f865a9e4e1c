// The calico-node modes as data, and the parts of cnilab's Calico model that the real felix and
// BIRD corrected (each measured against calico-node v3.28 in a lab, each cited from felix's source).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cidr, formatCidr } from '../net/ipv4.ts';
import { labNames } from '../plan/names.ts';
import type { NodeKernelState } from '../plan/kernel-state.ts';
import { calicoPods } from '../plan/pods.ts';
import { parseTopology } from '../topology/load.ts';
import { birdKernelRoutes } from './bird-config.ts';
import { calicoVtepMac } from './calico-common.ts';
import { calicoBird, calicoNodeProgram, DEFAULT_SETTINGS, isRealDaemon, kernelProgram } from './mode.ts';
import { allModes, getMode } from './registry.ts';
import { findStale } from './stale.ts';

const two = parseTopology(readFileSync(new URL('../../topologies/two-subnets.yaml', import.meta.url), 'utf8'));
const names = labNames('m');
const node = (n: string) => two.nodes.find((x) => x.name === n)!;

test('the calico-node modes: real daemons, each checked against the model of its pool setting, with its wire', () => {
  const real = allModes().filter((m) => calicoNodeProgram(m));
  assert.deepEqual(
    real.map((m) => m.name),
    [
      'calico-node-bgp',
      'calico-node-vxlan-always',
      'calico-node-vxlan-crosssubnet',
      'calico-node-ipip-always',
      'calico-node-ipip-crosssubnet',
    ],
  );
  for (const m of real) {
    const p = calicoNodeProgram(m)!;
    assert.ok(isRealDaemon(m));
    assert.equal(m.family, 'calico-node');
    assert.equal(m.expect, p.model.expect, `${m.name} expects what its model claims`);
    assert.deepEqual(p.model.config, { cni: 'calico', ...p.pool });
    // BIRD 1.6 only where confd drives it; BIRD 2 (bird) too for an IPIP pool, on the rewritten rendering.
    assert.equal(m.needs.tools.includes('bird1'), p.backend === 'bird');
    assert.equal(m.needs.tools.includes('bird'), p.backend === 'bird' && p.pool.ipipMode !== 'Never');
    assert.equal(calicoBird(p), p.backend !== 'bird' ? undefined : p.pool.ipipMode === 'Never' ? 'bird1' : 'bird2');
    // IPIP needs the kernel's ipip (a guest here), and is left out of a plain run for it.
    assert.equal(m.needs.kernel.includes('ipip'), p.pool.ipipMode !== 'Never');
    assert.equal(m.onlyWhenNamed !== undefined, p.pool.ipipMode !== 'Never');
  }
});

test('felix\'s VTEP MAC: "f" and the first five bytes of the SHA-1 of the node\'s name (vtepMACForHost), unless the Node says', () => {
  // Read from vxlan.calico on node n1 of a lab, calico-node v3.28.
  assert.equal(calicoVtepMac(node('n1')), '66:40:b3:ea:b6:3f');
  assert.equal(calicoVtepMac(node('n1'), { vtepMacs: { n1: '66:00:00:00:00:01' } }), '66:00:00:00:00:01');
});

test('VXLAN CrossSubnet: an on-subnet peer keeps its VTEP neighbour and FDB entry; only its route is plain, onlink', () => {
  const ctx = { topology: two, names, pods: calicoPods(two, names), settings: DEFAULT_SETTINGS };
  const ops = kernelProgram(getMode('calico-vxlan-crosssubnet'))!
    .plan(ctx)
    .filter((o) => o.netns === names.node('n1'));
  const n2 = node('n2');
  assert.ok(
    ops.some((o) => o.kind === 'fdb' && o.dst === '172.31.10.12'),
    'FDB entry for the on-subnet peer',
  );
  assert.ok(
    ops.some((o) => o.kind === 'neigh' && o.mac === calicoVtepMac(n2)),
    'VTEP neighbour for the on-subnet peer',
  );
  const route = ops.find((o) => o.kind === 'route' && o.via === '172.31.10.12');
  assert.ok(route?.kind === 'route' && route.dev === 'eth0' && route.onlink && route.proto === '80', JSON.stringify(route));
});

test("BIRD's mesh routes: on-subnet peers direct, the rest via the node's router; IPIP CrossSubnet lets BIRD write the former", () => {
  const n1 = node('n1');
  const all = birdKernelRoutes(two, n1, { kernelExport: 'all' }, 'ns');
  assert.deepEqual(
    all.map((o) => (o.kind === 'route' ? `${o.dst} via ${o.via} dev ${o.dev}` : o.kind)),
    [`${formatCidr(node('n2').podBlock)} via 172.31.10.12 dev eth0`, `${formatCidr(node('n3').podBlock)} via 172.31.10.1 dev eth0`],
  );
  assert.equal(birdKernelRoutes(two, n1, { kernelExport: 'same-subnet' }, 'ns').length, 1);
  assert.deepEqual(birdKernelRoutes(two, n1, { kernelExport: 'none' }, 'ns'), []);
});

test("felix's routes are the real felix's own in a calico-node mode, and stale once no calico-node mode runs", () => {
  const s: NodeKernelState = {
    node: 'n1',
    links: [{ ifname: 'eth0', kind: 'veth', up: true, mtu: 1500, addrs: ['172.31.10.11/24'] }],
    routes: [{ dst: '10.244.40.128/26', type: 'blackhole', protocol: '80' }],
    neigh: [],
    fdb: [],
  };
  const ctx = { podCidr: cidr('10.244.0.0/16'), modeOps: [], netns: 'ns', modes: allModes() };
  assert.deepEqual(findStale(s, { ...ctx, mode: getMode('calico-node-vxlan-always') }), []);
  assert.match(findStale(s, { ...ctx, mode: getMode('flannel-vxlan') }).join(' | '), /felix route 10\.244\.40\.128\/26/);
  // cnilab's own Calico modes still hold felix's routes to their plan.
  assert.match(findStale(s, { ...ctx, mode: getMode('calico-vxlan-always') }).join(' | '), /not in the current plan/);
});
