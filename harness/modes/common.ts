// What flanneld and felix program alike: peers, the on-link test, VXLAN devices and per-peer VXLAN
// state, overheads and the cited cost figures. Each mode file composes these.
import { formatCidr, formatIpv4 } from '../net/ipv4.ts';
import { IF } from '../plan/names.ts';
import type { KernelOp } from '../plan/ops.ts';
import type { EncapKind } from '../results/schema.ts';
import type { ResolvedNode } from '../topology/types.ts';
import type { CitedCost, ModeContext } from './mode.ts';

export const VXLAN_OVERHEAD = 50;
export const IPIP_OVERHEAD = 20;
/** What each encapsulation adds to a pod packet: VXLAN 50 (outer IP, UDP, VXLAN, inner Ethernet), IPIP 20, flannel's udp 28. */
export const ENCAP_OVERHEAD: Record<EncapKind, number> = { none: 0, vxlan: VXLAN_OVERHEAD, ipip: IPIP_OVERHEAD, udp: 28 };

export const peersOf = (ctx: ModeContext, self: ResolvedNode) => ctx.topology.nodes.filter((p) => p.name !== self.name);

/**
 * The peer's node IP is on-link: flanneld's DirectRouting asks `ip route get PEER` for a gateway,
 * Calico's CrossSubnet whether the peer is inside this node's interface subnet. In a lab both are
 * "same underlay subnet".
 */
export const onLink = (a: ResolvedNode, b: ResolvedNode) => a.subnet.name === b.subnet.name;

export const CITED = {
  plain: { text: 'host-gw / BGP, no encapsulation: ~10%', lo: 0.05, hi: 0.15 },
  // The headline path is same-subnet, which DirectRouting and CrossSubnet carry unencapsulated.
  plainOnSubnet: { text: 'no encapsulation on one subnet (host-gw-like): ~10%', lo: 0.05, hi: 0.15 },
  vxlan: { text: 'VXLAN-based: 20–30%', lo: 0.2, hi: 0.3 },
  ipip: { text: 'IPIP: ~10–20%', lo: 0.1, hi: 0.2 },
} as const satisfies Record<string, CitedCost>;

export interface VxlanDevice {
  name: string;
  vni: number;
  port: number;
  mtu: number;
  mac: string;
  /** The node's own VTEP address, as a /32 on the device. */
  address: string;
}

export function vxlanDeviceOps(ctx: ModeContext, n: ResolvedNode, d: VxlanDevice): KernelOp[] {
  const netns = ctx.names.node(n);
  return [
    { kind: 'vxlan-dev', netns, name: d.name, vni: d.vni, port: d.port, local: formatIpv4(n.ip), dev: IF.underlay, mtu: d.mtu, mac: d.mac },
    { kind: 'addr', netns, dev: d.name, cidr: `${d.address}/32` },
    { kind: 'link-set', netns, name: d.name, up: true },
  ];
}

/** Neighbour, FDB entry and route for one peer's VTEP, as flanneld and felix both write them. */
export function vxlanPeerOps(
  ctx: ModeContext,
  self: ResolvedNode,
  peer: ResolvedNode,
  v: { dev: string; peerVtep: string; peerMac: string; dst: string; proto?: string },
): KernelOp[] {
  const netns = ctx.names.node(self);
  return [
    { kind: 'neigh', netns, ip: v.peerVtep, mac: v.peerMac, dev: v.dev },
    { kind: 'fdb', netns, mac: v.peerMac, dev: v.dev, dst: formatIpv4(peer.ip) },
    { kind: 'route', netns, dst: v.dst, via: v.peerVtep, dev: v.dev, onlink: true, ...(v.proto ? { proto: v.proto } : {}) },
  ];
}

/** The unencapsulated route: the peer node itself is the next hop, which only works when it is on-link. */
export function directRouteOps(
  ctx: ModeContext,
  self: ResolvedNode,
  dst: string,
  peer: ResolvedNode,
  proto?: string,
  opts: { onlink?: boolean } = {},
): KernelOp[] {
  return [
    {
      kind: 'route',
      netns: ctx.names.node(self),
      dst,
      via: formatIpv4(peer.ip),
      dev: IF.underlay,
      ...(opts.onlink ? { onlink: true } : {}),
      ...(proto ? { proto } : {}),
    },
  ];
}

/** The usual plan shape: pod MTUs, then per node its own device and, per peer, that peer's state. */
export function perNodePlan(
  ctx: ModeContext,
  podOps: KernelOp[],
  device: (n: ResolvedNode) => KernelOp[],
  peer: (n: ResolvedNode, p: ResolvedNode) => KernelOp[],
): KernelOp[] {
  const ops = [...podOps];
  for (const n of ctx.topology.nodes) {
    ops.push(...device(n));
    for (const p of peersOf(ctx, n)) ops.push(...peer(n, p));
  }
  return ops;
}

export const leaseOf = (n: ResolvedNode) => formatCidr(n.podSubnet);
export const blockOf = (n: ResolvedNode) => formatCidr(n.podBlock);
