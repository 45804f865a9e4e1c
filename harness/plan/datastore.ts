// The lab's datastore namespace: one more host on the first subnet, as an etcd server would be on a
// real cluster's network. Pure: where it goes and the ops that put it there.
import { formatIpv4, nth, size } from '../net/ipv4.ts';
import type { Topology } from '../topology/types.ts';
import { IF, type LabNames } from './names.ts';
import type { KernelOp } from './ops.ts';

export interface DatastorePlan {
  netns: string;
  ip: string;
  ops: KernelOp[];
}

/** The highest free host address of the first subnet: nodes are numbered from the bottom up. */
export function planDatastore(t: Topology, names: LabNames): DatastorePlan {
  const s = t.subnets[0]!;
  const used = new Set([...t.nodes.map((n) => n.ip), ...(s.routerIp !== undefined ? [s.routerIp] : [])]);
  let k = size(s.cidr) - 2;
  while (k > 0 && used.has(nth(s.cidr, k))) k--;
  if (k <= 0) throw new Error(`subnet ${s.name} has no free address for the lab's etcd`);
  const ip = formatIpv4(nth(s.cidr, k));
  const netns = names.datastore();
  const sw = names.switch(s);
  return {
    netns,
    ip,
    ops: [
      { kind: 'netns-add', netns },
      { kind: 'sysctl', netns, key: 'net.ipv6.conf.all.disable_ipv6', value: '1' },
      { kind: 'link-set', netns, name: 'lo', up: true },
      { kind: 'veth', netns: sw, name: IF.switchPortToDatastore, peer: { netns, name: IF.underlay }, mtu: t.mtu },
      { kind: 'link-set', netns: sw, name: IF.switchPortToDatastore, master: IF.switchBridge, up: true },
      { kind: 'addr', netns, dev: IF.underlay, cidr: `${ip}/${s.cidr.prefix}` },
      { kind: 'link-set', netns, name: IF.underlay, up: true },
      ...(s.routerIp !== undefined ? [{ kind: 'route' as const, netns, dst: 'default', via: formatIpv4(s.routerIp) }] : []),
    ],
  };
}
