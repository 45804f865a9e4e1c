import { directRouteOps, onLink, peersOf, podMtuOps, VXLAN_OVERHEAD, vxlanDeviceOps, vxlanPeerOps } from './flannel-common.ts';
import type { ModeDef } from './mode.ts';

export const flannelVxlanDirectRouting: ModeDef = {
  name: 'flannel-vxlan-directrouting',
  family: 'flannel',
  summary: 'flannel vxlan + DirectRouting: plain routes to on-link peers, VXLAN to the rest',
  programs:
    'As flannel-vxlan, but a peer whose node IP is on-link (same underlay subnet) gets the host-gw route `PEER_LEASE via PEER_NODE_IP dev eth0` instead of the VXLAN route, neighbour and FDB entry. Pods keep MTU ext-50. Wire: plain on one subnet, VXLAN across the router.',
  kernel: ['veth', 'bridge', 'vxlan'],
  tools: ['cni-plugins'],
  podMtu: (t) => t.mtu - VXLAN_OVERHEAD,
  plan(ctx) {
    const ops = podMtuOps(ctx, this.podMtu(ctx.topology));
    for (const n of ctx.topology.nodes) {
      ops.push(...vxlanDeviceOps(ctx, n));
      for (const p of peersOf(ctx, n)) ops.push(...(onLink(n, p) ? directRouteOps(ctx, n, p) : vxlanPeerOps(ctx, n, p)));
    }
    return ops;
  },
  expect(_src, _dst, path, { settings }) {
    if (path === 'cross-subnet') return { reachable: true, encap: 'vxlan', vni: settings.flannel.vni, port: settings.flannel.port };
    return { reachable: true, encap: 'none' };
  },
  owns: { devices: ['flannel.*'] },
};
