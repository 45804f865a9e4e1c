import { CITED, onLink, peersOf } from './common.ts';
import { flannelDirectRoute, podMtuOps } from './flannel-common.ts';
import type { ModeDef } from './mode.ts';

export const flannelHostGw: ModeDef = {
  name: 'flannel-host-gw',
  family: 'flannel',
  summary: 'flannel host-gw: pod subnets routed via peer node IPs, no encapsulation',
  programs:
    'cni0 bridge per node (CNI bridge + host-local); per peer `ROUTE via PEER_NODE_IP dev eth0`. A peer behind a router has no ' +
    'on-link next hop: flanneld fails to add that route ("Nexthop has invalid gateway"), so no route is programmed. Wire: plain ' +
    'IPv4 between pods on one subnet; cross-subnet pairs must fail.',
  needs: { kernel: ['veth', 'bridge'], tools: ['cni-plugins'] },
  podMtu: (t) => t.mtu,
  expect(_src, _dst, path) {
    if (path === 'cross-subnet') return { reachable: false, encap: 'none' };
    return { reachable: true, encap: 'none' };
  },
  vxlanPorts: () => [],
  owns: { devices: [], routes: [] },
  cited: CITED.plain,
  config: { cni: 'flannel', backend: 'host-gw', directRouting: false },
  program: {
    kernel: {
      plan(ctx) {
        const ops = podMtuOps(ctx, ctx.topology.mtu);
        for (const n of ctx.topology.nodes) {
          for (const p of peersOf(ctx, n)) if (onLink(n, p)) ops.push(...flannelDirectRoute(ctx, n, p));
        }
        return ops;
      },
    },
  },
};
