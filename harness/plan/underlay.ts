// The mode-independent part of a lab: switches, router, nodes and empty pod namespaces.
import { formatIpv4 } from '../net/ipv4.ts';
import type { Topology } from '../topology/types.ts';
import { allNetns, IF, type LabNames } from './names.ts';
import type { KernelOp } from './ops.ts';

/** IPv6 off everywhere: link-local chatter would only add noise to captures. */
function quiet(netns: string): KernelOp[] {
  return [
    { kind: 'sysctl', netns, key: 'net.ipv6.conf.all.disable_ipv6', value: '1' },
    { kind: 'sysctl', netns, key: 'net.ipv6.conf.default.disable_ipv6', value: '1' },
    { kind: 'link-set', netns, name: 'lo', up: true },
  ];
}

const forwarding = (netns: string): KernelOp => ({ kind: 'sysctl', netns, key: 'net.ipv4.ip_forward', value: '1' });

export function planUnderlay(t: Topology, names: LabNames): KernelOp[] {
  const ops: KernelOp[] = allNetns(names, t).map((netns) => ({ kind: 'netns-add', netns }));
  for (const ns of allNetns(names, t)) ops.push(...quiet(ns));

  for (const s of t.subnets) {
    const sw = names.switch(s);
    ops.push(
      { kind: 'bridge-dev', netns: sw, name: IF.switchBridge, mtu: t.mtu },
      { kind: 'link-set', netns: sw, name: IF.switchBridge, up: true },
    );
  }

  if (t.router) {
    const rtr = names.router();
    ops.push(forwarding(rtr));
    for (const s of t.subnets) {
      const sw = names.switch(s);
      const leg = IF.routerLeg(s.name);
      ops.push(
        { kind: 'veth', netns: sw, name: IF.switchPortToRouter, peer: { netns: rtr, name: leg }, mtu: t.mtu },
        { kind: 'link-set', netns: sw, name: IF.switchPortToRouter, master: IF.switchBridge, up: true },
        { kind: 'addr', netns: rtr, dev: leg, cidr: `${formatIpv4(s.routerIp!)}/${s.cidr.prefix}` },
        { kind: 'link-set', netns: rtr, name: leg, up: true },
      );
    }
  }

  for (const n of t.nodes) {
    const sw = names.switch(n.subnet);
    const ns = names.node(n);
    ops.push(
      forwarding(ns),
      { kind: 'veth', netns: sw, name: IF.switchPortToNode(n.name), peer: { netns: ns, name: IF.underlay }, mtu: t.mtu },
      { kind: 'link-set', netns: sw, name: IF.switchPortToNode(n.name), master: IF.switchBridge, up: true },
      { kind: 'addr', netns: ns, dev: IF.underlay, cidr: `${formatIpv4(n.ip)}/${n.subnet.cidr.prefix}` },
      { kind: 'link-set', netns: ns, name: IF.underlay, up: true },
    );
    // Nodes reach other subnets through the router, as hosts in a real cluster do; the router knows
    // no pod routes, so pod traffic sent to it unencapsulated dies there.
    if (n.subnet.routerIp !== undefined) ops.push({ kind: 'route', netns: ns, dst: 'default', via: formatIpv4(n.subnet.routerIp) });
  }
  return ops;
}
