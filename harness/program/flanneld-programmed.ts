// What flanneld programmed, said in the words of a net-conf.json: the network and lease length it
// wrote (subnet.env, its leases), the backend its device shows, that device's VNI, port and MTU, the
// pods' MTU (cni0, from subnet.env's FLANNEL_MTU), and whether on-link peers are routed directly.
// conform compares its own reading of the user's config with this (conform/daemon-check.ts). Pure.
import { formatCidr, formatIpv4 } from '../net/ipv4.ts';
import type { NodeKernelState } from '../plan/kernel-state.ts';
import { IF } from '../plan/names.ts';
import type { Programmed } from '../results/schema.ts';
import type { Topology } from '../topology/types.ts';
import type { Lease, SubnetEnv } from './flanneld.ts';

export interface FlanneldSeen {
  topology: Topology;
  snaps: readonly NodeKernelState[];
  leases: ReadonlyMap<string, Lease>;
  subnetEnvs: ReadonlyMap<string, SubnetEnv | undefined>;
  /** Per node, the UDP ports user space listens on in the node's namespace (flanneld's, for udp). */
  udpPorts?: ReadonlyMap<string, readonly number[]>;
}

/** One value when every node agrees, else each node's ("n1 1450, n2 1400"): a disagreement is a fact too. */
export function agreed(per: ReadonlyMap<string, string | number | boolean>): string | number | boolean | undefined {
  const vals = [...new Set(per.values())];
  if (vals.length <= 1) return vals[0];
  return [...per].map(([n, v]) => `${n} ${v}`).join(', ');
}

export function flanneldProgrammed(seen: FlanneldSeen): Programmed {
  const keys = ['network', 'leaseLength', 'backend', 'vni', 'port', 'deviceMtu', 'podMtu', 'directRouting'] as const;
  const per = new Map<(typeof keys)[number], Map<string, string | number | boolean>>(keys.map((k) => [k, new Map()]));
  const set = (k: (typeof keys)[number], node: string, v: string | number | boolean | undefined) => {
    if (v !== undefined) per.get(k)!.set(node, v);
  };
  const ipOf = new Map(seen.topology.nodes.map((n) => [n.name, n]));
  for (const s of seen.snaps) {
    const env = seen.subnetEnvs.get(s.node);
    set('network', s.node, env ? formatCidr(env.network) : undefined);
    const lease = seen.leases.get(s.node)?.subnet;
    set('leaseLength', s.node, lease ? Number(lease.split('/')[1]) : undefined);
    // vxlan: flannel.<VNI> (pkg/backend/vxlan); udp: the TUN flannel0 (pkg/backend/udp); host-gw: no device at all.
    const vx = s.links.find((l) => /^flannel\.\d+$/.test(l.ifname) && l.vxlan);
    const tun = s.links.find((l) => l.ifname === 'flannel0');
    set('backend', s.node, vx ? 'vxlan' : tun ? 'udp' : 'host-gw');
    if (vx?.vxlan) {
      set('vni', s.node, vx.vxlan.id);
      set('port', s.node, vx.vxlan.port);
    }
    if (tun) set('port', s.node, (seen.udpPorts?.get(s.node) ?? []).join(' ') || 'none');
    set('deviceMtu', s.node, (vx ?? tun)?.mtu);
    set('podMtu', s.node, s.links.find((l) => l.ifname === IF.cni0)?.mtu);
    // DirectRouting shows only where a peer is on-link: its lease routed via its node address, not the device.
    if (vx) {
      const self = ipOf.get(s.node);
      const onLink = seen.topology.nodes.filter((p) => p.name !== s.node && p.subnet.name === self?.subnet.name);
      const direct = onLink.flatMap((p) => {
        const l = seen.leases.get(p.name)?.subnet;
        const r = l ? s.routes.find((x) => x.dst === l) : undefined;
        return r ? [r.gateway === formatIpv4(p.ip) && r.dev !== vx.ifname] : [];
      });
      if (direct.length) set('directRouting', s.node, direct.every(Boolean) ? true : direct.some(Boolean) ? 'some peers' : false);
    }
  }
  const out: Programmed = {};
  for (const k of keys) {
    const v = agreed(per.get(k)!);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** Ports of user-space UDP sockets in /proc/net/udp (inode 0 is the kernel's own, a vxlan device's). */
export function udpListenPorts(procNetUdp: string): number[] {
  const ports = procNetUdp
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 9 && f[9] !== '0')
    .map((f) => Number.parseInt(f[1]!.split(':')[1] ?? '', 16))
    .filter((p) => Number.isInteger(p) && p > 0);
  return [...new Set(ports)].sort((a, b) => a - b);
}
