// BIRD 2 configuration in the shape of Calico's confd templates: a node-to-node iBGP mesh (or peering
// with a route reflector on the router), exporting only the node's own block. Pure text generation.
import { formatCidr, formatIpv4 } from '../net/ipv4.ts';
import type { ResolvedNode, Topology } from '../topology/types.ts';
import { IF } from '../plan/names.ts';
import type { KernelOp } from '../plan/ops.ts';
import { BIRD_ROUTES } from './calico-common.ts';
import type { BirdPolicy } from './mode.ts';

const id = (ip: number) => formatIpv4(ip).replaceAll('.', '_');

function kernelFilter(t: Topology, n: ResolvedNode, policy: BirdPolicy): string {
  const pool = formatCidr(t.podCidr);
  const own = formatCidr(n.subnet.cidr);
  const decide =
    policy.kernelExport === 'all'
      ? 'accept;'
      : policy.kernelExport === 'none'
        ? 'reject; # felix programs every block route (via tunl0)'
        : `if bgp_next_hop ~ ${own} then accept; # on this subnet: no encapsulation\n    reject; # off subnet: felix programs it via tunl0`;
  return `filter calico_kernel_programming {
  if source = RTS_BGP && net ~ ${pool} then {
    ${decide}
  }
  reject;
}`;
}

export function nodeBirdConfig(t: Topology, n: ResolvedNode, policy: BirdPolicy, opts: { asn: number; logFile: string }): string {
  const me = formatIpv4(n.ip);
  const peers: { ip: number; passive: boolean }[] = t.router?.bgpPeer
    ? t.subnets.filter((s) => s.name === n.subnet.name).map((s) => ({ ip: s.routerIp!, passive: false }))
    : t.nodes.filter((p) => p.name !== n.name).map((p) => ({ ip: p.ip, passive: p.ip > n.ip }));
  return `# cnilab: node ${n.name} (${me}); generated, do not edit
log "${opts.logFile}" all;
router id ${me};

protocol device { scan time 2; }

# Connected routes, so BGP next hops resolve recursively (multihop peers across the router).
protocol direct { ipv4; interface "${'eth0'}"; }

# The node's block, announced as a blackhole: the only route this node exports.
protocol static static_block { ipv4; route ${formatCidr(n.podBlock)} blackhole; }

filter calico_export_to_bgp_peers {
  if proto = "static_block" then accept;
  reject;
}

${kernelFilter(t, n, policy)}

# "learn" is needed for the default route (recursive next hops across the router), but only that
# is imported: the kernel's /32 pod routes must never enter BIRD. Routes BIRD writes carry proto bird.
protocol kernel {
  ipv4 { import where net = 0.0.0.0/0; export filter calico_kernel_programming; };
  learn;
  scan time 2;
  merge paths on;
}

template bgp bgp_template {
  local as ${opts.asn};
  multihop;
  ipv4 { import all; export filter calico_export_to_bgp_peers; gateway recursive; };
  connect delay time 1;
  connect retry time 2;
  error wait time 1, 5;
}
${peers
  .map(
    (p) => `
protocol bgp ${t.router?.bgpPeer ? 'Global' : 'Mesh'}_${id(p.ip)} from bgp_template {
  neighbor ${formatIpv4(p.ip)} as ${opts.asn};
  source address ${me};${p.passive ? '\n  passive on; # the mesh is one-way: the higher address connects' : ''}
}`,
  )
  .join('\n')}
`;
}

/** The router as Calico's route reflector / top-of-rack peer: reflects and installs every block. */
export function routerBirdConfig(t: Topology, opts: { asn: number; logFile: string }): string {
  const r = t.subnets[0]!.routerIp!;
  return `# cnilab: router ${t.router!.name} as BGP route reflector; generated, do not edit
log "${opts.logFile}" all;
router id ${formatIpv4(r)};
protocol device { scan time 2; }
protocol direct { ipv4; interface "eth-*"; }

# Install every reflected block so unencapsulated pod traffic can cross the router.
protocol kernel {
  ipv4 { import none; export where source = RTS_BGP; };
  scan time 2;
}

template bgp reflector_client {
  local as ${opts.asn};
  rr client;
  rr cluster id ${formatIpv4(r)};
  # Reflect BGP routes only: exporting connected routes would hand nodes unreachable next hops.
  ipv4 { import all; export where source = RTS_BGP; gateway recursive; };
  connect delay time 1;
  connect retry time 2;
  error wait time 1, 5;
}
${t.nodes
  .map(
    (n) => `
protocol bgp Client_${id(n.ip)} from reflector_client {
  neighbor ${formatIpv4(n.ip)} as ${opts.asn};
  source address ${formatIpv4(n.subnet.routerIp!)};
}`,
  )
  .join('\n')}
`;
}

/**
 * The routes a node's BIRD writes into its kernel in the model's mesh (the same as Calico's: iBGP,
 * multihop by default, `gateway recursive`): each peer's block, via the peer when it is on the
 * node's subnet, else via the node's router (a next hop off the subnet resolves through the default
 * route). `kernelExport` says which of them the mode lets BIRD write.
 */
export function birdKernelRoutes(t: Topology, n: ResolvedNode, policy: BirdPolicy, netns: string): KernelOp[] {
  if (policy.kernelExport === 'none') return [];
  return t.nodes
    .filter((p) => p.name !== n.name && (policy.kernelExport === 'all' || p.subnet.name === n.subnet.name))
    .map((p): KernelOp => {
      const via = p.subnet.name === n.subnet.name ? p.ip : n.subnet.routerIp;
      return {
        kind: 'route',
        netns,
        dst: formatCidr(p.podBlock),
        ...(via !== undefined ? { via: formatIpv4(via) } : {}),
        dev: IF.underlay,
        proto: BIRD_ROUTES.proto,
      };
    });
}
