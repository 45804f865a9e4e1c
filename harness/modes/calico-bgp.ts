import { BIRD_ROUTES, podMtu } from './calico-common.ts';
import { CITED } from './common.ts';
import type { ModeDef } from './mode.ts';

export const calicoBgp: ModeDef = {
  name: 'calico-bgp',
  family: 'calico',
  summary: 'Calico BGP, no encapsulation: blocks distributed by BIRD, routed veth pods',
  programs:
    'Routed veth pods (/32, default via 169.254.1.1, proxy ARP, cali* host side); a blackhole for the node block; one BIRD per node ' +
    'in an AS 64512 node-to-node mesh exporting only that block, writing `PEER_BLOCK via PEER_NODE_IP proto bird`. With ' +
    '`router.bgpPeer`, nodes peer with a route reflector in the router instead, which also installs the blocks. Wire: plain ' +
    'everywhere; cross-subnet pairs fail unless the router is a BGP peer.',
  needs: { kernel: ['veth'], tools: ['bird'] },
  podMtu: (t) => t.mtu,
  expect(_s, _d, path, { topology }) {
    if (path === 'cross-subnet') return { reachable: Boolean(topology.router?.bgpPeer), encap: 'none' };
    return { reachable: true, encap: 'none' };
  },
  vxlanPorts: () => [],
  owns: { devices: [], routes: [BIRD_ROUTES] },
  cited: CITED.plain,
  config: { cni: 'calico', ipipMode: 'Never', vxlanMode: 'Never' },
  program: { kernel: { plan: (ctx) => podMtu(ctx, ctx.topology.mtu), bird: { kernelExport: 'all' } } },
};
