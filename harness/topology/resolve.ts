// Turns a parsed spec into a Topology: addresses, per-node pod subnets and blocks, cross-checks.
import {
  cidr,
  contains,
  formatCidr,
  formatIpv4,
  nth,
  overlaps,
  parseCidr,
  parseIpv4,
  size,
  subnet,
  subnetCount,
  type Cidr,
  type Ipv4,
} from '../net/ipv4.ts';
import type { ResolvedNode, ResolvedSubnet, Topology, TopologySpec } from './types.ts';

/** net/bridge/br_private.h BR_MAX_PORTS. */
export const BRIDGE_MAX_PORTS = 1024;

type Report = (path: (string | number)[], message: string, fix: string) => void;

/** First host addresses are the router's; nodes are numbered from HOST_BASE up. */
const ROUTER_HOST = 1;
const HOST_BASE = 11;

/** Ranges a pod network or an underlay subnet must not touch: they do not route, or mean something else. */
const RESERVED: [string, string][] = [
  ['0.0.0.0/8', '"this network" (0.0.0.0/8)'],
  ['127.0.0.0/8', 'loopback (127.0.0.0/8)'],
  ['169.254.0.0/16', "link-local (169.254.0.0/16, where Calico's pod gateway 169.254.1.1 lives)"],
  ['224.0.0.0/4', 'multicast (224.0.0.0/4)'],
  ['240.0.0.0/4', 'reserved and broadcast (240.0.0.0/4)'],
];
const reservedIn = (c: Cidr): string | undefined => RESERVED.find(([r]) => overlaps(cidr(r), c))?.[1];

/** A checker's state: every problem is reported, and `ok` says whether any was. */
interface Checks {
  bad: Report;
  ok: () => boolean;
}

export function resolveTopology(spec: TopologySpec, report: Report): Omit<Topology, 'source'> | undefined {
  let problems = 0;
  const c: Checks = {
    bad: (p, m, f) => {
      problems++;
      report(p, m, f);
    },
    ok: () => problems === 0,
  };
  const podCidr = resolvePodCidr(spec, c);
  const subnets = resolveSubnets(spec, podCidr, c);
  if (typeof podCidr !== 'string') checkPrefixes(spec, podCidr, c);
  const nodes = resolveNodes(spec, subnets, c);
  checkBridgePorts(spec, subnets, nodes, c);
  if (typeof podCidr !== 'string' && c.ok()) assignPodRanges(spec, podCidr, nodes, c);
  checkFaults(spec, c);
  if (!c.ok() || typeof podCidr === 'string') return undefined;
  return {
    ...(spec.faults?.length ? { faults: spec.faults } : {}),
    name: spec.name,
    mtu: spec.mtu,
    podCidr,
    subnetLen: spec.subnetLen,
    blockSize: spec.blockSize,
    subnets,
    ...(spec.router ? { router: spec.router } : {}),
    nodes,
    settings: spec.settings,
  };
}

/** The cluster's pod network: a CIDR outside the reserved ranges (its error, as a string, when not). */
function resolvePodCidr(spec: TopologySpec, { bad }: Checks): Cidr | string {
  const podCidr = parseCidr(spec.podCidr);
  if (typeof podCidr === 'string')
    bad(['podCidr'], `"${spec.podCidr}": ${podCidr}`, 'write the cluster pod network as a.b.c.d/len, e.g. 10.244.0.0/16');
  else if (reservedIn(podCidr))
    bad(['podCidr'], `${spec.podCidr} overlaps ${reservedIn(podCidr)}`, 'use a private range, e.g. 10.244.0.0/16');

  return podCidr;
}

/** The underlay subnets: named once, private, big enough, disjoint from each other and the pods; a router where several. */
function resolveSubnets(spec: TopologySpec, podCidr: Cidr | string, { bad }: Checks): ResolvedSubnet[] {
  const subnets: ResolvedSubnet[] = [];
  const seen = new Map<string, number>();
  for (const [i, s] of spec.subnets.entries()) {
    if (seen.has(s.name))
      bad(['subnets', i, 'name'], `duplicate subnet name "${s.name}" (also subnets[${seen.get(s.name)}])`, 'give each subnet its own name');
    seen.set(s.name, i);
    const c = parseCidr(s.cidr);
    if (typeof c === 'string') {
      bad(['subnets', i, 'cidr'], `"${s.cidr}": ${c}`, 'write the subnet as a.b.c.d/len, e.g. 172.31.10.0/24');
      continue;
    }
    if (reservedIn(c)) {
      bad(['subnets', i, 'cidr'], `${s.cidr} overlaps ${reservedIn(c)}`, 'use a private range, e.g. 172.31.10.0/24');
      continue;
    }
    if (c.prefix > 28) {
      bad(['subnets', i, 'cidr'], `/${c.prefix} is too small for a router and nodes`, 'use a prefix of /28 or shorter');
      continue;
    }
    for (const other of subnets) {
      if (overlaps(other.cidr, c))
        bad(
          ['subnets', i, 'cidr'],
          `${s.cidr} overlaps subnet "${other.name}" (${formatCidr(other.cidr)})`,
          'use disjoint underlay subnets',
        );
    }
    if (typeof podCidr !== 'string' && overlaps(podCidr, c))
      bad(['subnets', i, 'cidr'], `${s.cidr} overlaps podCidr ${spec.podCidr}`, 'keep the underlay and the pod network apart');
    subnets.push({ name: s.name, cidr: c, ...(spec.router ? { routerIp: nth(c, ROUTER_HOST) } : {}) });
  }
  if (spec.subnets.length === 0) bad(['subnets'], 'is empty', 'add at least one underlay subnet');
  if (subnets.length > 1 && !spec.router)
    bad(['router'], `${subnets.length} subnets but no router to join them`, 'add "router: {name: r1}" or put every node on one subnet');

  return subnets;
}

/** subnetLen and blockSize must cut podCidr into smaller parts. */
function checkPrefixes(spec: TopologySpec, podCidr: Cidr, { bad }: Checks): void {
  if (spec.subnetLen <= podCidr.prefix)
    bad(
      ['subnetLen'],
      `/${spec.subnetLen} is not smaller than podCidr /${podCidr.prefix}`,
      `use a subnetLen greater than ${podCidr.prefix}`,
    );
  if (spec.blockSize <= podCidr.prefix)
    bad(
      ['blockSize'],
      `/${spec.blockSize} is not smaller than podCidr /${podCidr.prefix}`,
      `use a blockSize greater than ${podCidr.prefix}`,
    );
}

/** The nodes: named once, on a known subnet, at a free host address (given or the next one), pods named once. */
function resolveNodes(spec: TopologySpec, subnets: ResolvedSubnet[], { bad }: Checks): ResolvedNode[] {
  const nodes: ResolvedNode[] = [];
  const nodeNames = new Map<string, number>();
  const usedIps = new Map<number, string>();
  const perSubnet = new Map<string, number>();
  for (const [i, n] of spec.nodes.entries()) {
    if (nodeNames.has(n.name))
      bad(['nodes', i, 'name'], `duplicate node name "${n.name}" (also nodes[${nodeNames.get(n.name)}])`, 'give each node its own name');
    nodeNames.set(n.name, i);
    const sn = subnets.find((s) => s.name === n.subnet);
    if (!sn) {
      bad(
        ['nodes', i, 'subnet'],
        `no subnet named "${n.subnet}"`,
        `use one of: ${subnets.map((s) => s.name).join(', ') || '(define subnets first)'}`,
      );
      continue;
    }
    let ip: Ipv4 | null;
    if (n.ip) {
      ip = parseIpv4(n.ip);
      if (ip === null) {
        bad(['nodes', i, 'ip'], `"${n.ip}" is not an IPv4 address`, 'write a.b.c.d or leave ip out to have one assigned');
        continue;
      }
      if (!contains(sn.cidr, ip) || ip === sn.cidr.network || ip === nth(sn.cidr, size(sn.cidr) - 1)) {
        bad(
          ['nodes', i, 'ip'],
          `${n.ip} is not a host address of subnet "${sn.name}" (${formatCidr(sn.cidr)})`,
          `pick an address inside ${formatCidr(sn.cidr)}`,
        );
        continue;
      }
      if (sn.routerIp === ip) {
        bad(['nodes', i, 'ip'], `${n.ip} is the router's address on "${sn.name}"`, 'pick another address');
        continue;
      }
    } else {
      const k = perSubnet.get(sn.name) ?? 0;
      perSubnet.set(sn.name, k + 1);
      if (HOST_BASE + k >= size(sn.cidr) - 1) {
        bad(['nodes', i, 'subnet'], `subnet "${sn.name}" has no room for another node`, 'use a larger subnet or set ip explicitly');
        continue;
      }
      ip = nth(sn.cidr, HOST_BASE + k);
    }
    if (usedIps.has(ip)) {
      bad(['nodes', i, 'ip'], `${formatIpv4(ip)} is also node "${usedIps.get(ip)}"'s address`, 'give each node its own address');
      continue;
    }
    usedIps.set(ip, n.name);
    const names = new Set<string>();
    n.pods.forEach((p, k) => {
      if (names.has(p)) bad(['nodes', i, 'pods', k], `duplicate pod name "${p}" on node ${n.name}`, 'give each pod on a node its own name');
      names.add(p);
    });
    nodes.push({
      name: n.name,
      index: nodes.length,
      subnet: sn,
      ip,
      podSubnet: { network: 0 as Ipv4, prefix: 0 },
      podBlock: { network: 0 as Ipv4, prefix: 0 },
      pods: n.pods.map((p) => ({ name: p, id: `${n.name}/${p}` })),
    });
  }
  if (spec.nodes.length === 0) bad(['nodes'], 'is empty', 'add at least one node');
  return nodes;
}

function checkBridgePorts(spec: TopologySpec, subnets: ResolvedSubnet[], nodes: ResolvedNode[], { bad }: Checks): void {
  // A subnet is one Linux bridge, and a bridge has at most 1024 ports (BR_MAX_PORTS, 1 << 10 in
  // net/bridge/br_private.h; the kernel answers EXFULL, "Exchange full", past it). Its ports: a
  // node each, the router's leg, and on the first subnet the lab's etcd and kube-apiserver.
  for (const [si, sn] of subnets.entries()) {
    const ports = nodes.filter((n) => n.subnet === sn).length + (spec.router ? 1 : 0) + (si === 0 ? 2 : 0);
    if (ports > BRIDGE_MAX_PORTS)
      bad(
        ['subnets', si],
        `subnet "${sn.name}" needs ${ports} ports on its switch (nodes, router, the lab's etcd and API server), ` +
          `more than a Linux bridge has (${BRIDGE_MAX_PORTS})`,
        'spread the nodes over more subnets',
      );
  }
}

/** Each node's lease (subnetLen) and block (blockSize), once the pod network has room for every node and pod. */
function assignPodRanges(spec: TopologySpec, podCidr: Cidr, nodes: ResolvedNode[], { bad, ok }: Checks): void {
  // Index 0 is skipped so node N gets 10.244.N.0/24, as people expect to read it.
  const leases = subnetCount(podCidr, spec.subnetLen) - 1;
  const blocks = subnetCount(podCidr, spec.blockSize) - 1;
  if (nodes.length > leases)
    bad(
      ['subnetLen'],
      `podCidr ${spec.podCidr} holds ${leases} /${spec.subnetLen} node subnets, not ${nodes.length}`,
      'use a larger podCidr or a longer subnetLen',
    );
  if (nodes.length > blocks)
    bad(
      ['blockSize'],
      `podCidr ${spec.podCidr} holds ${blocks} /${spec.blockSize} blocks, not ${nodes.length}`,
      'use a larger podCidr or a longer blockSize',
    );
  const maxPods = (c: number) => 2 ** (32 - c) - 3;
  for (const [i, n] of spec.nodes.entries()) {
    if (n.pods.length > maxPods(spec.subnetLen))
      bad(
        ['nodes', i, 'pods'],
        `${n.pods.length} pods do not fit a /${spec.subnetLen} node subnet`,
        'use fewer pods or a shorter subnetLen',
      );
    // Block ordinal 0 is the node's tunnel address (tunl0, vxlan.calico): pods take 1, 2, ...
    if (n.pods.length > 2 ** (32 - spec.blockSize) - 1)
      bad(
        ['nodes', i, 'pods'],
        `${n.pods.length} pods and the node's tunnel address do not fit a /${spec.blockSize} block (room for ` +
          `${2 ** (32 - spec.blockSize) - 1} pods)`,
        'use fewer pods or a shorter blockSize',
      );
  }
  if (ok()) {
    for (const node of nodes) {
      node.podSubnet = subnet(podCidr, spec.subnetLen, node.index + 1);
      node.podBlock = subnet(podCidr, spec.blockSize, node.index + 1);
    }
  }
}

/** A fault names a node's link or the router's; router-restart only the router. */
function checkFaults(spec: TopologySpec, { bad }: Checks): void {
  for (const [i, f] of (spec.faults ?? []).entries()) {
    if (f.link === 'router' ? !spec.router : !spec.nodes.some((n) => n.name === f.link)) {
      bad(
        ['faults', i, 'link'],
        `"${f.link}" is neither a node nor the router`,
        `use a node's name (${spec.nodes.map((n) => n.name).join(', ')})${spec.router ? ' or "router"' : ''}`,
      );
    }
    if (f.kind === 'router-restart' && f.link !== 'router')
      bad(['faults', i, 'link'], 'router-restart restarts the router', 'write link: router');
  }
}
