// flannel's vxlan backend, plain and with DirectRouting: the same device and per-peer state, except
// that DirectRouting gives on-link peers the host-gw route instead.
import { CITED, onLink, perNodePlan } from './common.ts';
import { FLANNEL_DEVICES, flannelDirectRoute, flannelVxlanDevice, flannelVxlanMtu, flannelVxlanPeer, podMtuOps } from './flannel-common.ts';
import type { ModeDef } from './mode.ts';

function vxlan(directRouting: boolean): ModeDef {
  return {
    name: directRouting ? 'flannel-vxlan-directrouting' : 'flannel-vxlan',
    family: 'flannel',
    summary: directRouting
      ? 'flannel vxlan + DirectRouting: plain routes to on-link peers, VXLAN to the rest'
      : 'flannel vxlan: every node-to-node pod packet in VXLAN (flannel.1, VNI 1, UDP 8472)',
    programs: directRouting
      ? 'As flannel-vxlan, but a peer whose node IP is on-link (same underlay subnet) gets the host-gw route `PEER_LEASE via ' +
        'PEER_NODE_IP dev eth0` instead of the VXLAN route, neighbour and FDB entry. Pods keep MTU ext-50. Wire: plain on one subnet, ' +
        'VXLAN across the router.'
      : 'flannel.<VNI> (vxlan, local NODE_IP dev eth0, dstport PORT, nolearning, MTU ext-50) with address LEASE.0/32; per peer: ' +
        '`PEER_LEASE via PEER_LEASE.0 dev flannel.1 onlink`, permanent neighbour PEER_LEASE.0 -> peer VTEP MAC, FDB `PEER_MAC dst ' +
        'PEER_NODE_IP`. Pods get MTU ext-50. Wire: VXLAN with the VNI and port between any two nodes, plain on one node.',
    needs: { kernel: ['veth', 'bridge', 'vxlan'], tools: ['cni-plugins'] },
    podMtu: (t) => flannelVxlanMtu(t, t.settings),
    expect(_src, _dst, path, { settings }) {
      if (path === 'same-node' || (directRouting && path === 'same-subnet')) return { reachable: true, encap: 'none' };
      return { reachable: true, encap: 'vxlan', vni: settings.flannel.vni, port: settings.flannel.port };
    },
    vxlanPorts: (s) => [s.flannel.port],
    owns: { devices: FLANNEL_DEVICES, routes: [] },
    cited: directRouting ? CITED.plainOnSubnet : CITED.vxlan,
    config: { cni: 'flannel', backend: 'vxlan', directRouting },
    program: {
      kernel: {
        plan: (ctx) =>
          perNodePlan(
            ctx,
            podMtuOps(ctx, flannelVxlanMtu(ctx.topology, ctx.settings)),
            (n) => flannelVxlanDevice(ctx, n),
            (n, p) => (directRouting && onLink(n, p) ? flannelDirectRoute(ctx, n, p) : flannelVxlanPeer(ctx, n, p)),
          ),
      },
    },
  };
}

export const flannelVxlan = vxlan(false);
export const flannelVxlanDirectRouting = vxlan(true);
