// A mode's plan against a real daemon's kernel state, fact by fact: the devices it made (with their
// VXLAN settings and MAC), their addresses, the routes into the pod network, permanent neighbours,
// FDB entries and the pods' bridge MTU. Pure: both sides become sets of one-line facts.
import { type Cidr, routeIn } from '../net/ipv4.ts';
import type { NodeKernelState } from './kernel-state.ts';
import { IF } from './names.ts';
import type { KernelOp } from './ops.ts';

export interface NodeDiff {
  node: string;
  only: 'model' | 'kernel';
  fact: string;
}

const vxlanFact = (
  name: string,
  v: { id: number; port: number; local?: string; dev?: string; learning: boolean },
  mtu: number,
  mac?: string,
) =>
  `link ${name} vxlan id ${v.id} port ${v.port} local ${v.local ?? '-'} dev ${v.dev ?? '-'}${v.learning ? ' learning' : ' nolearning'} ` +
  `mtu ${mtu} mac ${mac ?? '-'}`;
/** `ip route` shows a host route without its length; a plan writes it with /32. */
const prefixed = (dst: string) => (dst.includes('/') || dst === 'default' ? dst : `${dst}/32`);
const routeFact = (r: { dst: string; gateway?: string; dev?: string; onlink?: boolean }, proto = '') =>
  `route ${prefixed(r.dst)} via ${r.gateway ?? '-'} dev ${r.dev ?? '-'}${r.onlink ? ' onlink' : ''}${proto}`;
/** " proto P" when P is one of the protocols a comparison tells apart (felix's 80 from BIRD's), else nothing. */
const protoOf = (p: string | undefined, shown: ReadonlySet<string> | undefined) => (p !== undefined && shown?.has(p) ? ` proto ${p}` : '');
const neighFact = (ip: string, dev: string, mac?: string) => `neigh ${ip} dev ${dev} lladdr ${mac ?? '-'}`;
const vethFact = (name: string, mtu: number | undefined, mac?: string) => `veth ${name} mtu ${mtu ?? '-'} mac ${mac ?? '-'}`;
const fdbFact = (mac: string, dev: string, dst: string) => `fdb ${mac} dev ${dev} dst ${dst}`;

/** The facts a plan puts into one node namespace. */
export function plannedFacts(
  ops: readonly KernelOp[],
  netns: string,
  podCidr: Cidr,
  opts: { protocols?: ReadonlySet<string> } = {},
): Set<string> {
  const out = new Set<string>();
  const mine = ops.filter((o) => o.netns === netns);
  const devices = new Set<string>();
  // Pods' host-side veths (Calico's routed pods): their MTU and the MAC felix's CNI plugin gives them.
  const vethMtu = new Map<string, number | undefined>();
  const vethMac = new Map<string, string>();
  for (const o of mine) {
    if (o.kind === 'vxlan-dev') {
      devices.add(o.name);
      out.add(vxlanFact(o.name, { id: o.vni, port: o.port, local: o.local, dev: o.dev, learning: false }, o.mtu, o.mac));
    } else if (o.kind === 'ipip-fallback') {
      // The ipip module's fallback device, tunl0 (felix's ipip_mgr.go sets its MTU and address).
      devices.add(IF.tunl0);
      out.add(`link ${IF.tunl0} ipip mtu ${o.mtu}`);
    } else if (o.kind === 'veth') vethMtu.set(o.name, o.mtu);
    else if (o.kind === 'link-set' && o.mac && vethMtu.has(o.name)) vethMac.set(o.name, o.mac);
    else if (o.kind === 'addr' && !o.del && devices.has(o.dev)) out.add(`addr ${o.dev} ${o.cidr}`);
    else if (o.kind === 'route' && !o.del && o.type === 'blackhole' && routeIn(podCidr, o.dst))
      out.add(`blackhole ${prefixed(o.dst)}${protoOf(o.proto, opts.protocols)}`);
    else if (o.kind === 'route' && !o.del && o.type !== 'blackhole' && routeIn(podCidr, o.dst))
      out.add(
        routeFact(
          {
            dst: o.dst,
            ...(o.via ? { gateway: o.via } : {}),
            ...(o.dev ? { dev: o.dev } : {}),
            ...(o.onlink ? { onlink: true } : {}),
          },
          protoOf(o.proto, opts.protocols),
        ),
      );
    else if (o.kind === 'neigh' && !o.del) out.add(neighFact(o.ip, o.dev, o.mac));
    else if (o.kind === 'fdb' && !o.del) out.add(fdbFact(o.mac, o.dev, o.dst));
    else if (o.kind === 'link-set' && o.name === IF.cni0 && o.mtu !== undefined) out.add(`mtu ${IF.cni0} ${o.mtu}`);
  }
  for (const [name, mtu] of vethMtu) out.add(vethFact(name, mtu, vethMac.get(name)));
  return out;
}

/**
 * The facts a node's kernel holds in the same scope: devices the mode owns (`owned`), routes into
 * the pod network except the connected ones (the node's own lease on cni0), blackholes for blocks,
 * permanent neighbours, FDB entries with a destination, cni0's MTU, and (`podVeths`) the host side
 * of routed pods' veths with their MTU and MAC.
 */
export function kernelFacts(
  s: NodeKernelState,
  podCidr: Cidr,
  owned: (ifname: string) => boolean,
  opts: { podVeths?: (ifname: string) => boolean; protocols?: ReadonlySet<string> } = {},
): Set<string> {
  const out = new Set<string>();
  for (const l of s.links) {
    if (l.ifname === IF.cni0) out.add(`mtu ${IF.cni0} ${l.mtu}`);
    if (opts.podVeths?.(l.ifname)) out.add(vethFact(l.ifname, l.mtu, l.mac));
    if (!owned(l.ifname)) continue;
    out.add(l.vxlan ? vxlanFact(l.ifname, l.vxlan, l.mtu, l.mac) : `link ${l.ifname} ${l.kind ?? '?'} mtu ${l.mtu}`);
    for (const a of l.addrs) out.add(`addr ${l.ifname} ${a}`);
  }
  for (const r of s.routes) {
    if (r.protocol === 'kernel' || r.dev === IF.cni0 || !routeIn(podCidr, r.dst)) continue;
    const proto = protoOf(r.protocol, opts.protocols);
    out.add(r.type === 'blackhole' ? `blackhole ${prefixed(r.dst)}${proto}` : routeFact(r, proto));
  }
  for (const n of s.neigh) if (n.permanent) out.add(neighFact(n.dst, n.dev, n.lladdr));
  for (const f of s.fdb) if (f.dst) out.add(fdbFact(f.mac, f.ifname, f.dst));
  return out;
}

export function diffFacts(node: string, model: ReadonlySet<string>, kernel: ReadonlySet<string>): NodeDiff[] {
  return [
    ...[...model].filter((f) => !kernel.has(f)).map((fact) => ({ node, only: 'model' as const, fact })),
    ...[...kernel].filter((f) => !model.has(f)).map((fact) => ({ node, only: 'kernel' as const, fact })),
  ];
}

/** The device a fact is about: the link itself, or the device a route, neighbour or FDB entry is on. */
export function factDevice(fact: string): string | undefined {
  const m = /^(?:link|addr|mtu) (\S+)| dev (\S+)/.exec(fact);
  return m?.[1] ?? m?.[2];
}

/**
 * Ops that remove facts from a node: a device goes with everything on it; the rest one by one.
 * Used to clear what a restarted daemon left from its previous backend, once it is recorded.
 */
export function removeFactsOps(netns: string, facts: readonly string[]): KernelOp[] {
  const gone = new Set(facts.flatMap((f) => (f.startsWith('link ') ? [f.split(' ')[1]!] : [])));
  const ops: KernelOp[] = [...gone].map((name) => ({ kind: 'link-del', netns, name }));
  for (const f of facts) {
    const w = f.split(' ');
    // A fact that names its protocol is removed with it: felix's route and BIRD's may share a prefix.
    const proto = /(?: proto (\S+))$/.exec(f)?.[1];
    const by = proto ? { proto } : {};
    if (w[0] === 'blackhole') {
      ops.push({ kind: 'route', netns, type: 'blackhole', dst: w[1]!, ...by, del: true });
      continue;
    }
    const dev = factDevice(f);
    if (dev === undefined || gone.has(dev)) continue;
    if (w[0] === 'route') ops.push({ kind: 'route', netns, dst: w[1]!, dev, ...by, del: true });
    else if (w[0] === 'neigh') ops.push({ kind: 'neigh', netns, ip: w[1]!, mac: w[5] ?? '', dev, del: true });
    else if (w[0] === 'fdb') ops.push({ kind: 'fdb', netns, mac: w[1]!, dev, dst: w[5]!, del: true });
    else if (w[0] === 'addr') ops.push({ kind: 'addr', netns, dev, cidr: w[2]!, del: true });
  }
  return ops;
}
