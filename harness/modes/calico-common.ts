// What Calico's felix programs for its encapsulations, shared by the five Calico modes.
import { formatCidr, formatIpv4, macFromIpv4 } from '../net/ipv4.ts';
import { IF } from '../plan/names.ts';
import type { KernelOp } from '../plan/ops.ts';
import { calicoPodMtuOps, tunnelAddress } from '../pods/calico-pods.ts';
import type { ResolvedNode } from '../topology/types.ts';
import type { ModeContext } from './mode.ts';

/** Routes felix programs carry protocol 80, as on a real Calico node; BIRD's carry "bird". */
export const FELIX_PROTO = '80';
export const CALICO_VXLAN_DEV = 'vxlan.calico';
export const IPIP_OVERHEAD = 20;
export const VXLAN_OVERHEAD = 50;

/** Calico's CrossSubnet test: is the peer's node IP inside this node's interface subnet? */
export const sameSubnet = (a: ResolvedNode, b: ResolvedNode) => a.subnet.name === b.subnet.name;

export const peersOf = (ctx: ModeContext, n: ResolvedNode) => ctx.topology.nodes.filter((p) => p.name !== n.name);

/** felix stores a random VTEP MAC per node; deriving it from the node IP keeps plans pure. */
export const calicoVtepMac = (n: ResolvedNode) => macFromIpv4(0x66, n.ip);

export function podMtu(ctx: ModeContext, mtu: number): KernelOp[] {
  return calicoPodMtuOps(ctx.names, ctx.pods, mtu);
}

export function vxlanDevice(ctx: ModeContext, n: ResolvedNode): KernelOp[] {
  const netns = ctx.names.node(n);
  const { vxlanVni, vxlanPort } = ctx.settings.calico;
  return [
    { kind: 'vxlan-dev', netns, name: CALICO_VXLAN_DEV, vni: vxlanVni, port: vxlanPort, local: formatIpv4(n.ip), dev: IF.underlay, mtu: ctx.topology.mtu - VXLAN_OVERHEAD, mac: calicoVtepMac(n) },
    { kind: 'addr', netns, dev: CALICO_VXLAN_DEV, cidr: `${tunnelAddress(n)}/32` },
    { kind: 'link-set', netns, name: CALICO_VXLAN_DEV, up: true },
  ];
}

export function vxlanPeer(ctx: ModeContext, n: ResolvedNode, peer: ResolvedNode): KernelOp[] {
  const netns = ctx.names.node(n);
  return [
    { kind: 'neigh', netns, ip: tunnelAddress(peer), mac: calicoVtepMac(peer), dev: CALICO_VXLAN_DEV },
    { kind: 'fdb', netns, mac: calicoVtepMac(peer), dev: CALICO_VXLAN_DEV, dst: formatIpv4(peer.ip) },
    { kind: 'route', netns, dst: formatCidr(peer.podBlock), via: tunnelAddress(peer), dev: CALICO_VXLAN_DEV, onlink: true, proto: FELIX_PROTO },
  ];
}

/** CrossSubnet's unencapsulated leg: the peer node is the next hop. */
export function directPeer(ctx: ModeContext, n: ResolvedNode, peer: ResolvedNode): KernelOp[] {
  return [{ kind: 'route', netns: ctx.names.node(n), dst: formatCidr(peer.podBlock), via: formatIpv4(peer.ip), dev: IF.underlay, proto: FELIX_PROTO }];
}

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
  return [{ kind: 'route', netns: ctx.names.node(n), dst: formatCidr(peer.podBlock), via: formatIpv4(peer.ip), dev: 'tunl0', onlink: true, proto: FELIX_PROTO }];
}
