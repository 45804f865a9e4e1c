// Calico IPIP, Always and CrossSubnet. Needs the ipip module (tunl0); BIRD still distributes blocks.
import { BIRD_ROUTES, FELIX_ROUTES, ipipDevice, ipipPeer, podMtu } from './calico-common.ts';
import { CITED, IPIP_OVERHEAD, onLink, perNodePlan } from './common.ts';
import type { ModeDef } from './mode.ts';

function ipip(cross: boolean): ModeDef {
  return {
    name: cross ? 'calico-ipip-crosssubnet' : 'calico-ipip-always',
    family: 'calico',
    summary: cross
      ? 'Calico IPIP CrossSubnet: IP-in-IP only to nodes on other subnets'
      : 'Calico IPIP Always: every node-to-node pod packet in IP-in-IP (tunl0)',
    programs: cross
      ? 'tunl0 up with MTU ext-20 and the node tunnel address; BIRD mesh as calico-bgp; peers on the same subnet get `BLOCK via ' +
        'NODE_IP proto bird` from BIRD, peers elsewhere `BLOCK via NODE_IP dev tunl0 onlink`. Wire: plain on one subnet, IPIP ' +
        '(protocol 4, outer = node IPs) across.'
      : 'tunl0 up with MTU ext-20 and the node tunnel address; BIRD mesh as calico-bgp but writing no block routes; every peer block ' +
        '`via PEER_NODE_IP dev tunl0 onlink`. Wire: IPIP (protocol 4, outer = node IPs) between any two nodes.',
    needs: { kernel: ['veth', 'ipip'], tools: ['bird'] },
    podMtu: (t) => t.mtu - IPIP_OVERHEAD,
    expect(_s, _d, path) {
      if (path === 'same-node' || (cross && path === 'same-subnet')) return { reachable: true, encap: 'none' };
      return { reachable: true, encap: 'ipip' };
    },
    vxlanPorts: () => [],
    owns: { devices: [{ name: 'tunl0', fallback: true }], routes: [BIRD_ROUTES, FELIX_ROUTES] },
    cited: cross ? CITED.plainOnSubnet : CITED.ipip,
    config: { cni: 'calico', ipipMode: cross ? 'CrossSubnet' : 'Always', vxlanMode: 'Never' },
    program: {
      kernel: {
        // CrossSubnet leaves on-link peers to BIRD.
        plan: (ctx) =>
          perNodePlan(
            ctx,
            podMtu(ctx, ctx.topology.mtu - IPIP_OVERHEAD),
            (n) => ipipDevice(ctx, n),
            (n, p) => (cross && onLink(n, p) ? [] : ipipPeer(ctx, n, p)),
          ),
        bird: { kernelExport: cross ? 'same-subnet' : 'none' },
      },
    },
  };
}

export const calicoIpipAlways = ipip(false);
export const calicoIpipCrossSubnet = ipip(true);
