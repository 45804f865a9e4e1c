// What flanneld programs, shared by its three backends here.
import { formatCidr, formatIpv4, macFromIpv4 } from '../net/ipv4.ts';
import { IF } from '../plan/names.ts';
import type { KernelOp } from '../plan/ops.ts';
import type { ResolvedNode } from '../topology/types.ts';
import type { ModeContext } from './mode.ts';

export const FLANNEL_DEV = (vni: number) => `flannel.${vni}`;
export const VXLAN_OVERHEAD = 50;

/** flanneld picks a random VTEP MAC and publishes it in its lease; a MAC derived from the node IP is the pure equivalent. */
export const vtepMac = (n: ResolvedNode) => macFromIpv4(0x0e, n.ip);

/** The node's own VTEP address: the lease's network address as a /32 (flannel's vxlan v2 layout). */
export const vtepIp = (n: ResolvedNode) => formatIpv4(n.podSubnet.network);

/** Pods' MTU: flannel writes it to subnet.env and the CNI plugin hands it to the bridge plugin. */
export function podMtuOps(ctx: ModeContext, mtu: number): KernelOp[] {
  const ops: KernelOp[] = [];
  for (const p of ctx.pods) {
    const nodeNs = ctx.names.node(p.node);
    ops.push({ kind: 'link-set', netns: p.netns, name: IF.podEth, mtu }, { kind: 'link-set', netns: nodeNs, name: p.hostIf, mtu });
  }
  for (const n of ctx.topology.nodes) {
    if (n.pods.length > 0) ops.push({ kind: 'link-set', netns: ctx.names.node(n), name: IF.cni0, mtu });
  }
  return ops;
}

export function vxlanDeviceOps(ctx: ModeContext, n: ResolvedNode): KernelOp[] {
  const { vni, port } = ctx.settings.flannel;
  const netns = ctx.names.node(n);
  const dev = FLANNEL_DEV(vni);
  return [
    { kind: 'vxlan-dev', netns, name: dev, vni, port, local: formatIpv4(n.ip), dev: IF.underlay, mtu: ctx.topology.mtu - VXLAN_OVERHEAD, mac: vtepMac(n) },
    { kind: 'addr', netns, dev, cidr: `${vtepIp(n)}/32` },
    { kind: 'link-set', netns, name: dev, up: true },
  ];
}

/** Route, ARP and FDB entry for one peer, as flanneld writes them on a lease event. */
export function vxlanPeerOps(ctx: ModeContext, self: ResolvedNode, peer: ResolvedNode): KernelOp[] {
  const netns = ctx.names.node(self);
  const dev = FLANNEL_DEV(ctx.settings.flannel.vni);
  return [
    { kind: 'neigh', netns, ip: vtepIp(peer), mac: vtepMac(peer), dev },
    { kind: 'fdb', netns, mac: vtepMac(peer), dev, dst: formatIpv4(peer.ip) },
    { kind: 'route', netns, dst: formatCidr(peer.podSubnet), via: vtepIp(peer), dev, onlink: true },
  ];
}

/** host-gw's route: the peer node itself is the next hop, which only works when it is on-link. */
export function directRouteOps(ctx: ModeContext, self: ResolvedNode, peer: ResolvedNode): KernelOp[] {
  return [{ kind: 'route', netns: ctx.names.node(self), dst: formatCidr(peer.podSubnet), via: formatIpv4(peer.ip), dev: IF.underlay }];
}

/** flanneld's test is `ip route get PEER` having no gateway; in a lab that is "same underlay subnet". */
export const onLink = (a: ResolvedNode, b: ResolvedNode) => a.subnet.name === b.subnet.name;

export function peersOf(ctx: ModeContext, self: ResolvedNode): ResolvedNode[] {
  return ctx.topology.nodes.filter((p) => p.name !== self.name);
}
