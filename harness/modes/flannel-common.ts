// What flanneld programs, shared by its backends here.
// Source: flannel-io/flannel pkg/backend/vxlan/vxlan_network.go (per-lease neighbour, FDB, onlink
// route) and pkg/backend/route_network.go (host-gw's `LEASE via PUBLIC_IP`).
import { formatIpv4, macFromIpv4 } from '../net/ipv4.ts';
import { IF } from '../plan/names.ts';
import type { KernelOp } from '../plan/ops.ts';
import type { ModeSettings, ResolvedNode, Topology } from '../topology/types.ts';
import { directRouteOps, leaseOf, VXLAN_OVERHEAD, vxlanDeviceOps, vxlanPeerOps } from './common.ts';
import type { DeviceClaim, ModeContext } from './mode.ts';

export const FLANNEL_DEV = (vni: number) => `flannel.${vni}`;
export const FLANNEL_DEVICES: DeviceClaim[] = [{ name: 'flannel.*' }];

/** flanneld picks a random VTEP MAC and publishes it in its lease; a MAC derived from the node IP is the pure equivalent. */
export const vtepMac = (ctx: Pick<ModeContext, 'vtepMacs'>, n: ResolvedNode) => ctx.vtepMacs?.[n.name] ?? macFromIpv4(0x0e, n.ip);

/** The node's own VTEP address: the lease's network address as a /32 (flannel's vxlan v2 layout). */
export const vtepIp = (n: ResolvedNode) => formatIpv4(n.podSubnet.network);

/** Pods' MTU: flannel writes it to subnet.env and the CNI plugin hands it to the bridge plugin. */
export function podMtuOps(ctx: ModeContext, derived: number): KernelOp[] {
  const mtu = ctx.settings.podMtu ?? derived;
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

/**
 * flannel.<VNI>'s MTU: Backend.MTU when set, else the external interface's, minus VXLAN's 50
 * (pkg/backend/vxlan/vxlan.go RegisterNetwork: `MTU: cfg.MTU` else `extIface.Iface.MTU`, then
 * vxlan_network.go encapOverhead). subnet.env's FLANNEL_MTU, and so the pods', is the same.
 */
export const flannelVxlanMtu = (t: Pick<Topology, 'mtu'>, s: Pick<ModeSettings, 'flannel'>) => (s.flannel.mtu ?? t.mtu) - VXLAN_OVERHEAD;

export function flannelVxlanDevice(ctx: ModeContext, n: ResolvedNode): KernelOp[] {
  const { vni, port } = ctx.settings.flannel;
  return vxlanDeviceOps(ctx, n, {
    name: FLANNEL_DEV(vni),
    vni,
    port,
    mtu: flannelVxlanMtu(ctx.topology, ctx.settings),
    mac: vtepMac(ctx, n),
    address: vtepIp(n),
  });
}

/** Route, ARP and FDB entry for one peer, as flanneld writes them on a lease event. */
export const flannelVxlanPeer = (ctx: ModeContext, self: ResolvedNode, peer: ResolvedNode) =>
  vxlanPeerOps(ctx, self, peer, {
    dev: FLANNEL_DEV(ctx.settings.flannel.vni),
    peerVtep: vtepIp(peer),
    peerMac: vtepMac(ctx, peer),
    dst: leaseOf(peer),
  });

/** host-gw's route: `PEER_LEASE via PEER_NODE_IP dev eth0`. */
export const flannelDirectRoute = (ctx: ModeContext, self: ResolvedNode, peer: ResolvedNode) =>
  directRouteOps(ctx, self, leaseOf(peer), peer);
