// What Calico's felix programs for its encapsulations, shared by the five Calico modes.
// Source: projectcalico/calico felix/dataplane/linux/vxlan_mgr.go (VTEP neighbour, FDB and
// `BLOCK via TUNNEL_IP onlink` routes), felix/dataplane/linux/ipip_mgr.go (tunl0), and felix's
// route tables, which tag their routes with protocol 80.
import { formatIpv4, macFromIpv4 } from '../net/ipv4.ts';
import type { KernelOp } from '../plan/ops.ts';
import { calicoPodMtuOps, tunnelAddress } from '../plan/pods.ts';
import type { ResolvedNode } from '../topology/types.ts';
import { blockOf, directRouteOps, IPIP_OVERHEAD, VXLAN_OVERHEAD, vxlanDeviceOps, vxlanPeerOps } from './common.ts';
import type { ModeContext, RouteClaim } from './mode.ts';

/** Routes felix programs carry protocol 80, as on a real Calico node; BIRD's carry "bird". */
export const FELIX_ROUTES: RouteClaim = { proto: '80', by: 'plan', writer: 'felix' };
export const BIRD_ROUTES: RouteClaim = { proto: 'bird', by: 'daemon', writer: 'BIRD' };
export const CALICO_VXLAN_DEV = 'vxlan.calico';

/** felix stores a random VTEP MAC per node; deriving it from the node IP keeps plans pure. */
export const calicoVtepMac = (n: ResolvedNode) => macFromIpv4(0x66, n.ip);

export function podMtu(ctx: ModeContext, mtu: number): KernelOp[] {
  return calicoPodMtuOps(ctx.names, ctx.pods, ctx.settings.podMtu ?? mtu);
}

export function vxlanDevice(ctx: ModeContext, n: ResolvedNode): KernelOp[] {
  const { vxlanVni, vxlanPort } = ctx.settings.calico;
  return vxlanDeviceOps(ctx, n, {
    name: CALICO_VXLAN_DEV,
    vni: vxlanVni,
    port: vxlanPort,
    mtu: ctx.topology.mtu - VXLAN_OVERHEAD,
    mac: calicoVtepMac(n),
    address: tunnelAddress(n),
  });
}

export const vxlanPeer = (ctx: ModeContext, n: ResolvedNode, peer: ResolvedNode) =>
  vxlanPeerOps(ctx, n, peer, {
    dev: CALICO_VXLAN_DEV,
    peerVtep: tunnelAddress(peer),
    peerMac: calicoVtepMac(peer),
    dst: blockOf(peer),
    proto: FELIX_ROUTES.proto,
  });

/** CrossSubnet's unencapsulated leg: the peer node is the next hop. */
export const directPeer = (ctx: ModeContext, n: ResolvedNode, peer: ResolvedNode) =>
  directRouteOps(ctx, n, blockOf(peer), peer, FELIX_ROUTES.proto);

export function ipipDevice(ctx: ModeContext, n: ResolvedNode): KernelOp[] {
  const netns = ctx.names.node(n);
  return [
    { kind: 'ipip-fallback', netns, mtu: ctx.topology.mtu - IPIP_OVERHEAD },
    { kind: 'addr', netns, dev: 'tunl0', cidr: `${tunnelAddress(n)}/32` },
  ];
}

/**
 * IPIP block routes. Calico's BIRD fork writes them with krt_tunnel; stock BIRD 2 cannot name an
 * outgoing device with a gateway, so they are written the way felix does with ProgramClusterRoutes:
 * `BLOCK via PEER_NODE_IP dev tunl0 onlink`, while BIRD keeps distributing the blocks.
 */
export function ipipPeer(ctx: ModeContext, n: ResolvedNode, peer: ResolvedNode): KernelOp[] {
  return [
    {
      kind: 'route',
      netns: ctx.names.node(n),
      dst: blockOf(peer),
      via: formatIpv4(peer.ip),
      dev: 'tunl0',
      onlink: true,
      proto: FELIX_ROUTES.proto,
    },
  ];
}
