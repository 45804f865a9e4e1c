// Calico IPIP, Always and CrossSubnet. Needs the ipip module (tunl0); BIRD still distributes blocks.
import { IPIP_OVERHEAD, ipipDevice, ipipPeer, peersOf, podMtu, sameSubnet } from './calico-common.ts';
import type { ModeDef } from './mode.ts';

function ipip(cross: boolean): ModeDef {
  return {
    name: cross ? 'calico-ipip-crosssubnet' : 'calico-ipip-always',
    family: 'calico',
    summary: cross ? 'Calico IPIP CrossSubnet: IP-in-IP only to nodes on other subnets' : 'Calico IPIP Always: every node-to-node pod packet in IP-in-IP (tunl0)',
    programs: cross
      ? 'tunl0 up with MTU ext-20 and the node tunnel address; BIRD mesh as calico-bgp; peers on the same subnet get `BLOCK via NODE_IP proto bird` from BIRD, peers elsewhere `BLOCK via NODE_IP dev tunl0 onlink`. Wire: plain on one subnet, IPIP (protocol 4, outer = node IPs) across.'
      : 'tunl0 up with MTU ext-20 and the node tunnel address; BIRD mesh as calico-bgp but writing no block routes; every peer block `via PEER_NODE_IP dev tunl0 onlink`. Wire: IPIP (protocol 4, outer = node IPs) between any two nodes.',
    kernel: ['veth', 'ipip'],
    tools: ['bird'],
    podMtu: (t) => t.mtu - IPIP_OVERHEAD,
    plan(ctx) {
      const ops = podMtu(ctx, this.podMtu(ctx.topology));
      for (const n of ctx.topology.nodes) {
        ops.push(...ipipDevice(ctx, n));
        for (const p of peersOf(ctx, n)) if (!cross || !sameSubnet(n, p)) ops.push(...ipipPeer(ctx, n, p));
      }
      return ops;
    },
    bird: { kernelExport: cross ? 'same-subnet' : 'none' },
    expect(_s, _d, path) {
      if (path === 'same-node' || (cross && path === 'same-subnet')) return { reachable: true, encap: 'none' };
      return { reachable: true, encap: 'ipip' };
    },
    owns: { devices: ['tunl0'], routeProtos: ['bird', '80'] },
  };
}

export const calicoIpipAlways = ipip(false);
export const calicoIpipCrossSubnet = ipip(true);
