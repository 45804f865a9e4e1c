// What Calico's felix programs for its encapsulations, shared by the five Calico modes.
// Source: projectcalico/calico felix/dataplane/linux/vxlan_mgr.go (VTEP neighbour, FDB and
// `BLOCK via TUNNEL_IP onlink` routes), felix/dataplane/linux/ipip_mgr.go (tunl0), and felix's
// route tables, which tag their routes with protocol 80.
import { createHash } from 'node:crypto';
import { formatIpv4 } from '../net/ipv4.ts';
import type { KernelOp } from '../plan/ops.ts';
import { calicoPodMtuOps, tunnelAddress } from '../plan/pods.ts';
import type { ResolvedNode } from '../topology/types.ts';
import { blockOf, directRouteOps, IPIP_OVERHEAD, VXLAN_OVERHEAD, vxlanDeviceOps, vxlanPeerOps } from './common.ts';
import type { ModeContext, RouteClaim } from './mode.ts';

/** Routes felix programs carry protocol 80, as on a real Calico node; BIRD's carry "bird". */
export const FELIX_ROUTES: RouteClaim = { proto: '80', by: 'plan', writer: 'felix' };
export const BIRD_ROUTES: RouteClaim = { proto: 'bird', by: 'daemon', writer: 'BIRD' };
/** The real felix's routes (the calico-node modes): its own, so they must be gone once no calico-node mode runs. */
export const REAL_FELIX_ROUTES: RouteClaim = { proto: '80', by: 'daemon', writer: 'felix' };
export const CALICO_VXLAN_DEV = 'vxlan.calico';

/**
 * felix's VTEP MAC for a node: the Node's projectcalico.org/VXLANTunnelMACAddr when one is set (fed
 * in as vtepMacs), else what felix derives from the node's name: "f" and the first five bytes of
 * its SHA-1 (felix/calc/vxlan_resolver.go vtepMACForHost), which it gives its own vxlan.calico too.
 */
export function calicoVtepMac(n: ResolvedNode, ctx?: Pick<ModeContext, 'vtepMacs'>): string {
  const own = ctx?.vtepMacs?.[n.name];
  if (own) return own;
  const sha = createHash('sha1').update(n.name).digest();
  return [0x66, ...sha.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** A node's tunnel address: calico-ipam's choice when the real daemon runs, else its block's first address. */
const tunnelOf = (n: ResolvedNode, ctx: Pick<ModeContext, 'tunnelAddrs'>) => ctx.tunnelAddrs?.[n.name] ?? tunnelAddress(n);

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
    mac: calicoVtepMac(n, ctx),
    address: tunnelOf(n, ctx),
  });
}

/**
 * A peer's VTEP neighbour, FDB entry and block route. felix writes the route through vxlan.calico
 * with its device-route protocol, `boot` unless FELIX_DEVICEROUTEPROTOCOL says otherwise; only its
 * blackholes and CrossSubnet's plain routes carry 80 (felix/dataplane/linux/vxlan_mgr.go).
 */
export const vxlanPeer = (ctx: ModeContext, n: ResolvedNode, peer: ResolvedNode) =>
  vxlanPeerOps(ctx, n, peer, {
    dev: CALICO_VXLAN_DEV,
    peerVtep: tunnelOf(peer, ctx),
    peerMac: calicoVtepMac(peer, ctx),
    dst: blockOf(peer),
  });

/**
 * CrossSubnet's unencapsulated leg: the peer node is the next hop, written onlink as felix writes
 * every no-encap route (felix/routetable/route_table.go: TargetTypeNoEncap sets RTNH_F_ONLINK).
 */
export const directPeer = (ctx: ModeContext, n: ResolvedNode, peer: ResolvedNode) =>
  directRouteOps(ctx, n, blockOf(peer), peer, FELIX_ROUTES.proto, { onlink: true });

export function ipipDevice(ctx: ModeContext, n: ResolvedNode): KernelOp[] {
  const netns = ctx.names.node(n);
  return [
    { kind: 'ipip-fallback', netns, mtu: ctx.topology.mtu - IPIP_OVERHEAD },
    { kind: 'addr', netns, dev: 'tunl0', cidr: `${tunnelOf(n, ctx)}/32` },
  ];
}

/**
 * IPIP block routes: `BLOCK via PEER_NODE_IP dev tunl0 onlink`. Calico's BIRD fork writes them with
 * krt_tunnel (v3.28); the model writes them as felix does with ProgramClusterRoutes (v3.31), while
 * BIRD keeps distributing the blocks. The real calico-node modes get the same route from stock
 * BIRD 2 on confd's rewritten rendering (program/bird2-from-confd.py), with BIRD's protocol.
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
