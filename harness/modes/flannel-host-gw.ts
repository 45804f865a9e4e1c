import { directRouteOps, onLink, peersOf, podMtuOps } from './flannel-common.ts';
import type { ModeDef } from './mode.ts';

export const flannelHostGw: ModeDef = {
  name: 'flannel-host-gw',
  family: 'flannel',
  summary: 'flannel host-gw: pod subnets routed via peer node IPs, no encapsulation',
  programs:
    'cni0 bridge per node (CNI bridge + host-local); per peer `ROUTE via PEER_NODE_IP dev eth0`. A peer behind a router has no on-link next hop: flanneld fails to add that route ("Nexthop has invalid gateway"), so no route is programmed. Wire: plain IPv4 between pods on one subnet; cross-subnet pairs must fail.',
  kernel: ['veth', 'bridge'],
  tools: ['cni-plugins'],
  podMtu: (t) => t.mtu,
  plan(ctx) {
    const ops = podMtuOps(ctx, this.podMtu(ctx.topology));
    for (const n of ctx.topology.nodes) {
      for (const p of peersOf(ctx, n)) if (onLink(n, p)) ops.push(...directRouteOps(ctx, n, p));
    }
    return ops;
  },
  expect(_src, _dst, path) {
    if (path === 'cross-subnet') return { reachable: false, encap: 'none' };
    return { reachable: true, encap: 'none' };
  },
  owns: { devices: [] },
};
