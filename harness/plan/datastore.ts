// The lab's control hosts: the datastore (etcd) and, for a manifest's lab, the kube-apiserver, each
// one more host on the first subnet, as a control plane sits on a real cluster's network. Pure:
// where each goes and the ops that put it there.
import { formatIpv4, nth, size } from '../net/ipv4.ts';
import type { Topology } from '../topology/types.ts';
import { IF, type LabNames } from './names.ts';
import type { KernelOp } from './ops.ts';
import { LabError } from '../errors.ts';

export interface DatastorePlan {
  netns: string;
  ip: string;
  ops: KernelOp[];
}

export type ControlRole = 'datastore' | 'apiserver';

const ROLE = {
  datastore: { netns: (n: LabNames) => n.datastore(), port: IF.switchPortToDatastore },
  apiserver: { netns: (n: LabNames) => n.apiserver(), port: IF.switchPortToApiserver },
} as const;

/**
 * The highest free host address of the first subnet (nodes are numbered from the bottom up), not
 * one of `taken` (another control host's): the datastore takes the top, the API server the next.
 */
export function planControlHost(t: Topology, names: LabNames, role: ControlRole, taken: readonly string[] = []): DatastorePlan {
  const s = t.subnets[0]!;
  const used = new Set([...t.nodes.map((n) => formatIpv4(n.ip)), ...(s.routerIp !== undefined ? [formatIpv4(s.routerIp)] : []), ...taken]);
  let k = size(s.cidr) - 2;
  while (k > 0 && used.has(formatIpv4(nth(s.cidr, k)))) k--;
  if (k <= 0) throw new LabError(`subnet ${s.name} has no free address for the lab's ${role === 'datastore' ? 'etcd' : 'kube-apiserver'}`);
  const ip = formatIpv4(nth(s.cidr, k));
  const netns = ROLE[role].netns(names);
  const sw = names.switch(s);
  const port = ROLE[role].port;
  return {
    netns,
    ip,
    ops: [
      { kind: 'netns-add', netns },
      { kind: 'sysctl', netns, key: 'net.ipv6.conf.all.disable_ipv6', value: '1' },
      { kind: 'link-set', netns, name: 'lo', up: true },
      { kind: 'veth', netns: sw, name: port, peer: { netns, name: IF.underlay }, mtu: t.mtu },
      { kind: 'link-set', netns: sw, name: port, master: IF.switchBridge, up: true },
      { kind: 'addr', netns, dev: IF.underlay, cidr: `${ip}/${s.cidr.prefix}` },
      { kind: 'link-set', netns, name: IF.underlay, up: true },
      ...(s.routerIp !== undefined ? [{ kind: 'route' as const, netns, dst: 'default', via: formatIpv4(s.routerIp) }] : []),
    ],
  };
}

/** The lab's etcd host. */
export const planDatastore = (t: Topology, names: LabNames) => planControlHost(t, names, 'datastore');
