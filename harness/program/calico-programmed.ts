// What calico-node programmed, said in the words of a Calico config: the pool it made or was given
// (read back from the API, as -startup stored it from CALICO_IPV4POOL_* or the user's IPPool), the
// block size calico-ipam cut, felix's vxlan.calico with its VNI, port and MTU (or tunl0's MTU), and
// the pods' MTU on the CNI plugin's veths. conform compares its reading with this (conform/daemon-check.ts). Pure.
import type { NodeKernelState } from '../plan/kernel-state.ts';
import type { Programmed } from '../results/schema.ts';
import { agreed } from './flanneld-programmed.ts';

export interface CalicoSeen {
  snaps: readonly NodeKernelState[];
  /** The IPPool's spec as the API holds it. */
  pool?: Record<string, unknown>;
  /** Each node's blocks as calico-ipam allocated them. */
  blocks: ReadonlyMap<string, readonly string[]>;
  /** The host side of a pod's veth (the plugin's "cali" names). */
  podVeth: (ifname: string) => boolean;
}

export function calicoProgrammed(seen: CalicoSeen): Programmed {
  const out: Programmed = {};
  const spec = seen.pool ?? {};
  for (const k of ['cidr', 'ipipMode', 'vxlanMode'] as const) if (typeof spec[k] === 'string') out[k === 'cidr' ? 'pool' : k] = spec[k];
  const per = (f: (s: NodeKernelState) => string | number | undefined) =>
    agreed(new Map(seen.snaps.flatMap((s) => (f(s) === undefined ? [] : [[s.node, f(s)!] as const]))));
  const put = (k: string, v: string | number | boolean | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  // The blocks calico-ipam cut, not the pool's stored blockSize: what the pods' addresses come from.
  put('blockSize', agreed(new Map([...seen.blocks].flatMap(([n, b]) => (b[0] ? [[n, Number(b[0].split('/')[1])] as const] : [])))));
  const vx = (s: NodeKernelState) => s.links.find((l) => l.ifname === 'vxlan.calico' && l.vxlan);
  put(
    'vni',
    per((s) => vx(s)?.vxlan?.id),
  );
  put(
    'port',
    per((s) => vx(s)?.vxlan?.port),
  );
  // The tunnel device: vxlan.calico, or for IPIP the tunl0 felix keeps.
  put(
    'deviceMtu',
    per((s) => vx(s)?.mtu ?? s.links.find((l) => l.ifname === 'tunl0')?.mtu),
  );
  put(
    'podMtu',
    per((s) => s.links.find((l) => seen.podVeth(l.ifname))?.mtu),
  );
  return out;
}
