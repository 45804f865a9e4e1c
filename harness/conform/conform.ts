// From the user's files to a verdict: which CNI, its data plane with a source for every value, what
// is wrong with it (lint), what it does per pod path (explain, from the same mode the wire check
// judges by), whether that is what the user intends (--expect), and the lab that proves it.
import { UsageError } from '../errors.ts';
import { ENCAP_OVERHEAD } from '../modes/common.ts';
import { isRealDaemon, type ModeDef } from '../modes/mode.ts';
import { modesFor } from '../modes/registry.ts';
import { type Cidr, formatCidr, formatIpv4, parseCidr } from '../net/ipv4.ts';
import type { ConformanceResult, EncapKind, PathKind, RunResult, WireExpectation } from '../results/schema.ts';
import { resolveTopology } from '../topology/resolve.ts';
import { pathBetween, type Topology, type TopologySpec } from '../topology/types.ts';
import { FLANNEL_BACKENDS, FLANNEL_MTU_OVERHEAD, type FlannelPlane, isFlannelDoc, resolveFlannel } from './flannel.ts';
import { type CalicoPlane, type CalicoPool, isCalicoDoc, resolveCalico } from './calico.ts';
import { calicoModeConfig, lintCalico, networkingOf, provenPool } from './calico-lint.ts';
import { calicoReading, checkReading, flannelReading, type Reading, readingFindings } from './daemon-check.ts';
import { docName, type InputDoc } from './inputs.ts';
import { closest, type Finding, inRange, podCidrOverlaps, type Sourced } from './plane.ts';

export type Expectation = EncapKind | 'unreachable';
export const EXPECTATIONS: readonly Expectation[] = ['none', 'vxlan', 'ipip', 'udp', 'unreachable'];
export const PATHS: readonly PathKind[] = ['same-node', 'same-subnet', 'cross-subnet'];

export interface PathPlan {
  path: PathKind;
  expected: WireExpectation;
  /** One line: what the config does to a pod packet on this path. */
  text: string;
  /** What the user said it must do (--expect), and whether it does. */
  intended?: { want: Expectation; ok: boolean };
}

export interface Conformance {
  inputs: { document: string; used: boolean }[];
  cni: 'flannel' | 'calico';
  plane: FlannelPlane | CalicoPlane;
  /** Calico: the pool the lab is built from (the first enabled IPv4 pool that selects the nodes). */
  pool?: string;
  /** The mode that programs this data plane, and whether it is the real daemon; or why none can. */
  proof: { mode: string; real: boolean } | { skip: string };
  findings: Finding[];
  paths: PathPlan[];
  /** What the proof's daemon must program, by conform's reading (checked against it after a real daemon's proof). */
  reading?: Reading;
}

const CNI_HINT = "give a kube-flannel.yml, a net-conf.json, Canal's manifest, a calico.yaml, an IPPool or an Installation";

/** kube-controller-manager's --node-cidr-mask-size for IPv4 when not set (cmd/kube-controller-manager/app/options). */
const KUBE_NODE_CIDR_MASK = 24;

/** Encapsulation overhead on the pods' MTU per flannel backend (host-gw none). */
const FLANNEL_OVERHEAD: Record<string, number> = { vxlan: ENCAP_OVERHEAD.vxlan, udp: ENCAP_OVERHEAD.udp, 'host-gw': 0 };

export function wireText(e: WireExpectation): string {
  if (!e.reachable) return 'unreachable: no route, the packet is dropped';
  switch (e.encap) {
    case 'none':
      return 'plain IP, pod addresses on the wire';
    case 'vxlan':
      return `VXLAN, VNI ${e.vni}, UDP ${e.port}, between node addresses`;
    case 'udp':
      return `UDP ${e.port} from flanneld, the bare pod packet inside`;
    case 'ipip':
      return 'IPIP (protocol 4) between node addresses';
  }
}

function specOf(t: Topology): TopologySpec {
  return {
    name: t.name,
    mtu: t.mtu,
    podCidr: formatCidr(t.podCidr),
    subnetLen: t.subnetLen,
    blockSize: t.blockSize,
    subnets: t.subnets.map((s) => ({ name: s.name, cidr: formatCidr(s.cidr) })),
    ...(t.router ? { router: t.router } : {}),
    nodes: t.nodes.map((n) => ({ name: n.name, subnet: n.subnet.name, ip: formatIpv4(n.ip), pods: n.pods.map((p) => p.name) })),
    settings: t.settings,
  };
}

export interface ConformOptions {
  expects?: Partial<Record<PathKind, Expectation>>;
  /** Lint and explain only: no lab is built, and the proof says so. */
  lintOnly?: boolean;
  /**
   * The topology is cnilab's default (no --topology): when the config's pod network covers its
   * subnets, the lab's underlay moves to another /16 instead of the overlap being reported.
   */
  placeUnderlay?: boolean;
  /** Can this host run that mode (here or in a guest)? Asked in order of preference: the real daemon first. */
  runs?: (mode: ModeDef) => boolean | Promise<boolean>;
}

/** What a CNI's resolved config asks of the lab and of the modes. */
interface Resolved {
  cni: Conformance['cni'];
  plane: FlannelPlane | CalicoPlane;
  findings: Finding[];
  used: InputDoc[];
  /** The topology spec with the config's values, when the config names a network. */
  spec?: TopologySpec;
  /** Where the pod network comes from, for a lab-from-config finding. */
  networkAt?: string;
  /** Candidate modes, the real daemon's first, or why none. */
  modes: ModeDef[] | { none: string };
  pool?: string;
  /** The settings an --expect mismatch is blamed on. */
  responsible: string[];
  fixFor(path: PathKind, want: Expectation): string;
}

function resolveFlannelSide(docs: readonly InputDoc[], t: Topology, calicoDocs: readonly InputDoc[]): Resolved {
  const { plane, findings } = resolveFlannel(docs);
  findings.push(...lintFlannel(plane, t));
  if (calicoDocs.length) {
    if (!plane.canal)
      throw new UsageError(
        `two CNIs configured at once: flannel in ${docName(docs.find(isFlannelDoc)!)}, Calico networking in ${docName(calicoDocs[0]!)}`,
        "check one CNI per run (Canal is flannel networking: give Canal's ConfigMap, with calico_backend: none)",
      );
    findings.push(...lintCanal(plane, resolveCalico(docs).plane));
  }
  const b = plane.backend.value;
  // DirectRouting only changes the vxlan backend (flanneld ignores it elsewhere: a finding says so).
  const modes = modesFor({ cni: 'flannel', backend: b, directRouting: b === 'vxlan' && plane.directRouting.value });
  const podMtu = plane.podMtu?.value;
  return {
    cni: 'flannel',
    plane,
    findings,
    used: [...docs.filter(isFlannelDoc), ...calicoDocs],
    ...(plane.network
      ? {
          spec: {
            ...specOf(t),
            podCidr: plane.network.value,
            // --kube-subnet-mgr: the Nodes' podCIDRs, as the controller manager would cut them.
            subnetLen: plane.kubeSubnetMgr?.value ? KUBE_NODE_CIDR_MASK : plane.subnetLen.value,
            settings: {
              ...t.settings,
              // udp's Port is its own (pkg/backend/udp: defaultPort 8285); vxlan's VNI and port stay flannel's defaults then.
              flannel: {
                ...(b === 'udp' ? { ...t.settings.flannel, udpPort: plane.port.value } : { vni: plane.vni.value, port: plane.port.value }),
                // Backend.MTU: vxlan's external MTU (wireguard's too; udp and host-gw take the interface's).
                ...(plane.mtu && b === 'vxlan' ? { mtu: plane.mtu.value } : {}),
                ...(plane.backendJson ? { given: JSON.parse(plane.backendJson) as Record<string, unknown> } : {}),
              },
              ...(podMtu ? { podMtu } : {}),
            },
          },
          networkAt: plane.network.at,
        }
      : {}),
    modes: plane.ipv6Only
      ? { none: 'an IPv6-only network: cnilab builds IPv4 labs' }
      : modes.length
        ? modes
        : { none: `cnilab has no mode for flannel's ${b} backend` },
    responsible: [
      `Backend.Type "${b}" at ${plane.backend.at}`,
      ...(b === 'vxlan' ? [`DirectRouting ${plane.directRouting.value} at ${plane.directRouting.at}`] : []),
    ],
    fixFor: flannelFix,
  };
}

function resolveCalicoSide(docs: readonly InputDoc[], t: Topology): Resolved {
  const { plane, findings } = resolveCalico(docs);
  findings.push(...lintCalico(plane, t));
  const pool = provenPool(plane, t);
  const which = calicoModeConfig(plane, pool);
  // With the networking backend: the real calico-node's modes run BIRD or not by it (cnilab's models match either).
  const modes = 'none' in which ? [] : modesFor({ ...which, backend: networkingOf(plane) });
  const podMtu = plane.podMtu?.value;
  return {
    cni: 'calico',
    plane,
    findings,
    used: docs.filter(isCalicoDoc),
    ...(pool
      ? {
          spec: {
            ...specOf(t),
            podCidr: pool.cidr.value,
            blockSize: pool.blockSize.value,
            settings: {
              ...t.settings,
              calico: { vxlanVni: plane.vxlanVni.value, vxlanPort: plane.vxlanPort.value, asn: plane.asNumber.value },
              ...(podMtu ? { podMtu } : {}),
            },
          },
          networkAt: pool.cidr.at,
          pool: pool.name,
        }
      : {}),
    modes: modes.length ? modes : { none: 'none' in which ? which.none : 'cnilab has no mode for this pool' },
    responsible: pool
      ? [`ipipMode ${pool.ipipMode.value} at ${pool.ipipMode.at}`, `vxlanMode ${pool.vxlanMode.value} at ${pool.vxlanMode.at}`]
      : [],
    fixFor: calicoFix,
  };
}

/** Where the lab's underlay may go when the config's pod network covers it: the first /16 of these that is clear. */
const UNDERLAY_PLACES = ['172.31', '192.168', '10.250', '172.20'];

/** `t` reshaped by `edit` and resolved again (source kept), or undefined when it does not resolve. */
function reshaped(t: Topology, edit: (spec: TopologySpec) => TopologySpec): Topology | undefined {
  const r = resolveTopology(edit(specOf(t)), () => {});
  return r ? ({ ...r, ...(t.source ? { source: t.source } : {}) } as Topology) : undefined;
}

/** The topology with every subnet and node address moved to `prefix` (its first two octets), or undefined when it does not resolve. */
function underlayAt(t: Topology, prefix: string): Topology | undefined {
  const move = (a: string) => a.replace(/^\d+\.\d+\./, `${prefix}.`);
  return reshaped(t, (spec) => ({
    ...spec,
    subnets: spec.subnets.map((s) => ({ ...s, cidr: move(s.cidr) })),
    nodes: spec.nodes.map((n) => ({ ...n, ...(n.ip ? { ip: move(n.ip) } : {}) })),
  }));
}

export async function conform(
  docs: readonly InputDoc[],
  topology: Topology,
  opts: ConformOptions = {},
): Promise<{ conformance: Conformance; topology?: Topology; mode?: ModeDef }> {
  const placed = await placedClear(docs, topology, opts);
  // A config that needs every node on one L2 segment (host-gw, BGP without encapsulation) is not
  // wrong because cnilab's default lab has a router: with no --topology its nodes go on one
  // segment, and what a router would do to it is a warning, not the config's error.
  const bound = placed.conformance.findings.filter((f) => SEGMENT_BOUND.includes(f.rule));
  const flat = opts.placeUnderlay && bound.length ? oneSegment(placed.topology ?? topology) : undefined;
  if (!flat) return placed;
  const again = await placedClear(docs, flat, opts);
  again.conformance.findings.unshift(
    ...bound.map((f) => ({
      ...f,
      rule: 'needs-one-segment',
      severity: 'warning' as const,
      message:
        `${f.rule === 'host-gw-across-subnets' ? 'host-gw' : 'an unencapsulated pool'} needs every node on one L2 segment: ` +
        "behind a router that does not carry the pod routes, pods are unreachable. cnilab's lab put its nodes on one segment " +
        '(a --topology of yours with a router makes this an error)',
    })),
  );
  return again;
}

/** Rules that only a router in cnilab's own lab would break (the config needs one L2 segment). */
const SEGMENT_BOUND = ['host-gw-across-subnets', 'bgp-across-subnets'];

/** The lab with every node on its first subnet and no router: node addresses are the subnet's to give. */
function oneSegment(t: Topology): Topology | undefined {
  return reshaped(t, ({ router: _router, ...spec }) => ({
    ...spec,
    subnets: [spec.subnets[0]!],
    nodes: spec.nodes.map(({ ip: _ip, ...n }) => ({ ...n, subnet: spec.subnets[0]!.name })),
  }));
}

/**
 * The lab's own underlay (no --topology) is cnilab's to place: moved clear of the config's pod
 * network rather than reported as the user's overlap.
 */
async function placedClear(docs: readonly InputDoc[], topology: Topology, opts: ConformOptions) {
  const first = await conformOn(docs, topology, opts);
  const overlap = (c: Conformance) => c.findings.some((f) => f.rule === 'pod-cidr-overlaps-nodes');
  if (!opts.placeUnderlay || !overlap(first.conformance)) return first;
  for (const prefix of UNDERLAY_PLACES) {
    const t = underlayAt(topology, prefix);
    if (!t) continue;
    const again = await conformOn(docs, t, opts);
    if (!overlap(again.conformance)) return again;
  }
  return first;
}

async function conformOn(
  docs: readonly InputDoc[],
  topology: Topology,
  opts: ConformOptions,
): Promise<{ conformance: Conformance; topology?: Topology; mode?: ModeDef }> {
  const flannelDocs = docs.filter(isFlannelDoc);
  const calicoDocs = docs.filter(isCalicoDoc);
  if (!flannelDocs.length && !calicoDocs.length) {
    throw new UsageError(
      `no CNI configuration in ${docs.length} documents (${[...new Set(docs.map((d) => d.file))].join(', ')})`,
      CNI_HINT,
    );
  }
  const r = flannelDocs.length ? resolveFlannelSide(docs, topology, calicoDocs) : resolveCalicoSide(docs, topology);
  const findings = r.findings;

  // The lab this config describes: the topology with the config's network, lease or block size, VNI, port and MTU.
  const problems: string[] = [];
  const resolved = r.spec ? resolveTopology(r.spec, (path, message) => problems.push(`${path.join('.')}: ${message}`)) : undefined;
  const lab = resolved ? ({ ...resolved, ...(topology.source ? { source: topology.source } : {}) } as Topology) : undefined;
  // Said only when no lint finding explains it already.
  if (r.spec && !lab && !findings.some((f) => f.severity === 'error'))
    findings.push({
      rule: 'lab-from-config',
      severity: 'error',
      at: r.networkAt!,
      message: `this network does not fit the topology: ${problems[0] ?? 'unknown reason'}`,
      fix: r.cni === 'flannel' ? 'widen Network or shorten SubnetLen so every node gets a lease' : 'widen the pool or shorten blockSize',
    });

  let mode: ModeDef | undefined;
  if (Array.isArray(r.modes) && lab && !opts.lintOnly)
    for (const m of r.modes)
      if (await (opts.runs ?? (() => true))(m)) {
        mode = m;
        break;
      }
  const proof: Conformance['proof'] = opts.lintOnly
    ? { skip: 'not asked (--lint-only)' }
    : !Array.isArray(r.modes)
      ? { skip: r.modes.none }
      : !lab
        ? { skip: 'the config does not describe a lab on this topology (see the findings)' }
        : mode
          ? { mode: mode.name, real: isRealDaemon(mode) }
          : { skip: `${r.modes.map((m) => m.name).join(' and ')} cannot run here` };

  // What each path does, from the same expectations the wire check judges by.
  const paths: PathPlan[] = [];
  const judge = mode ?? (Array.isArray(r.modes) ? r.modes[0] : undefined);
  if (lab && judge) {
    for (const path of PATHS) {
      const pair = lab.nodes.flatMap((a) => lab.nodes.filter((c) => pathBetween(a, c) === path).map((c) => [a, c] as const))[0];
      const withPods = path === 'same-node' ? lab.nodes.find((n) => n.pods.length > 1) : pair;
      if (!withPods) continue;
      const [a, c] = pair ?? [withPods as (typeof lab.nodes)[number], withPods as (typeof lab.nodes)[number]];
      const expected = judge.expect(a, c, path, { topology: lab, settings: lab.settings });
      const want = opts.expects?.[path];
      const does: Expectation = expected.reachable ? expected.encap : 'unreachable';
      paths.push({
        path,
        expected,
        text: path === 'same-node' ? "plain IP on the node's bridge or routes, never on the underlay" : wireText(expected),
        ...(want ? { intended: { want, ok: want === does } } : {}),
      });
      if (want && want !== does)
        findings.push({
          rule: 'expectation',
          severity: 'error',
          at: r.responsible.length ? r.responsible[0]!.split(' at ').pop()! : (r.networkAt ?? docName(r.used[0]!)),
          message: `${path}: intended ${want}, the config does ${does} (set by ${r.responsible.join(', ')})`,
          fix: r.fixFor(path, want),
        });
    }
  }
  const used = new Set(r.used);
  return {
    conformance: {
      inputs: docs.map((d) => ({ document: docName(d), used: used.has(d) })),
      cni: r.cni,
      plane: r.plane,
      ...(r.pool ? { pool: r.pool } : {}),
      proof,
      findings,
      paths,
      ...(lab ? { reading: readingOf(r, lab) } : {}),
    },
    ...(lab ? { topology: lab } : {}),
    ...(mode && lab ? { mode } : {}),
  };
}

/** What the proof's daemon must program, by conform's reading: flanneld's settings, or calico-node's pool and felix's. */
function readingOf(r: Resolved, lab: Topology): Reading | undefined {
  if (r.plane.cni === 'flannel') return flannelReading(r.plane, lab);
  const pool = r.plane.pools.find((p) => p.name === r.pool);
  return pool ? calicoReading(r.plane, pool, lab) : undefined;
}

/** Canal with Calico VXLAN pools: two VXLAN devices. The kernel refuses a second one with the same port and VNI. */
function lintCanal(f: FlannelPlane, c: CalicoPlane): Finding[] {
  const vxlanPools = c.pools.filter((p) => !p.disabled.value && p.vxlanMode.value !== 'Never');
  if (f.backend.value !== 'vxlan' || !vxlanPools.length || f.port.value !== c.vxlanPort.value) return [];
  const pool = vxlanPools[0]!;
  // Measured: `ip link add ... type vxlan id 1 dstport 4789` twice says "A VXLAN device with the
  // specified VNI already exists"; a different VNI on the same port is accepted (one shared socket).
  if (f.vni.value === c.vxlanVni.value)
    return [
      {
        rule: 'vxlan-clash',
        severity: 'error',
        at: c.vxlanPort.default ? f.port.at : c.vxlanPort.at,
        message:
          `flannel.${f.vni.value} and vxlan.calico (pool ${pool.name}) both use VNI ${f.vni.value} on UDP ${f.port.value}: ` +
          'the kernel refuses the second device',
        fix: `give Calico another VXLAN port (FELIX_VXLANPORT) or VNI (FELIX_VXLANVNI), or keep Canal's pools unencapsulated`,
      },
    ];
  return [
    {
      rule: 'vxlan-port-shared',
      severity: 'warning',
      at: c.vxlanPort.default ? f.port.at : c.vxlanPort.at,
      message:
        `flannel (VNI ${f.vni.value}) and Calico pool ${pool.name} (VNI ${c.vxlanVni.value}) share UDP ${f.port.value}: ` +
        'the kernel tells them apart by VNI, firewalls and captures by port cannot',
      fix: 'give each its own port (FELIX_VXLANPORT, or Backend.Port in net-conf.json)',
    },
  ];
}

function calicoFix(path: PathKind, want: Expectation): string {
  if (want === 'none' && path === 'same-subnet') return 'use ipipMode or vxlanMode CrossSubnet (plain on a subnet), or Never with BGP';
  if (want === 'none') return 'plain across subnets needs the router as a BGP peer (BGPPeer), with the pool unencapsulated';
  if (want === 'vxlan') return `set vxlanMode ${path === 'cross-subnet' ? 'CrossSubnet or Always' : 'Always'} (and ipipMode Never)`;
  if (want === 'ipip')
    return `set ipipMode ${path === 'cross-subnet' ? 'CrossSubnet or Always' : 'Always'} (and vxlanMode Never), with BIRD`;
  return "change the pool's encapsulation to one that does this";
}

function flannelFix(path: PathKind, want: Expectation): string {
  if (want === 'none' && path === 'same-subnet') return 'use "host-gw", or "vxlan" with "DirectRouting": true';
  if (want === 'vxlan') return 'use "Type": "vxlan" (DirectRouting keeps same-subnet pairs plain)';
  if (want === 'none') return 'plain across subnets needs routes on the router: flannel cannot; use Calico BGP with the router as a peer';
  if (want === 'udp') return 'use "Type": "udp" (user-space forwarding: slow)';
  return 'change Backend.Type to one that does this';
}

type Add = (rule: string, severity: Finding['severity'], at: string, message: string, fix: string) => void;

export function lintFlannel(p: FlannelPlane, t: Topology): Finding[] {
  const out: Finding[] = [];
  const add: Add = (rule, severity, at, message, fix) => out.push({ rule, severity, at, message, fix });
  lintFlannelBackend(p, add);
  const network = flannelNetwork(p, add);
  if (!network) return out;
  lintLeases(p, network, t, add);
  out.push(...podCidrOverlaps(network.net, `Network ${network.given.value}`, network.given.at, t));
  lintFlannelPaths(p, t, add);
  return out;
}

/** Backend.Type, and the settings only some backends read (DirectRouting, VNI, Port). */
function lintFlannelBackend(p: FlannelPlane, add: Add): void {
  const b = p.backend.value;
  if (!(FLANNEL_BACKENDS as readonly string[]).includes(b)) {
    const near = closest(b, FLANNEL_BACKENDS);
    add(
      'backend-type',
      'error',
      p.backend.at,
      `Backend.Type "${b}" is not a flannel backend: flanneld refuses to start`,
      near ? `did you mean "${near}"?` : `use one of: ${FLANNEL_BACKENDS.join(', ')}`,
    );
  } else if (!['vxlan', 'host-gw', 'udp'].includes(b)) {
    add(
      'backend-unproven',
      'warning',
      p.backend.at,
      `cnilab cannot build flannel's ${b} backend: it is linted, not proven on the wire`,
      'check it on a cluster',
    );
  }
  if (p.directRouting.value && b !== 'vxlan')
    add(
      'directrouting-ignored',
      'warning',
      p.directRouting.at,
      `DirectRouting only applies to the vxlan backend; ${b} ignores it`,
      'remove it, or use "Type": "vxlan"',
    );
  if (b === 'vxlan' && !inRange(p.vni.value, 1, 16_777_215))
    add('vni-range', 'error', p.vni.at, `VNI ${p.vni.value} is outside 1-16777215 (24 bits)`, 'pick a VNI in 1-16777215');
  if (!inRange(p.port.value, 1, 65_535))
    add('port-range', 'error', p.port.at, `Port ${p.port.value} is not a UDP port`, 'pick a port in 1-65535');
}

/** The Network as given and parsed. */
interface FlannelNetwork {
  net: Cidr;
  given: NonNullable<FlannelPlane['network']>;
}

/** The Network, parsed: none when IPv6-only (read, not proven), missing or invalid (each said). */
function flannelNetwork(p: FlannelPlane, add: Add): FlannelNetwork | undefined {
  // pkg/subnet/config.go: EnableIPv4 false needs no Network. cnilab's labs are IPv4: said, not proven.
  if (p.ipv6Only) {
    add(
      'ipv6-only',
      'warning',
      p.ipv6Only.at,
      'an IPv6-only network (EnableIPv4: false): cnilab builds IPv4 labs, so its data plane is read but not proven',
      'nothing to fix in the config; a dual-stack config is proven on its IPv4 side',
    );
    return undefined;
  }
  if (!p.network) {
    add(
      'network-missing',
      'error',
      p.backend.at,
      'no Network: flanneld refuses to start ("please define a correct Network parameter")',
      'set "Network", e.g. "10.244.0.0/16"',
    );
    return undefined;
  }
  const net = parseCidr(p.network.value);
  if (typeof net === 'string') {
    add('network-invalid', 'error', p.network.at, `Network "${p.network.value}": ${net}`, 'write it as a.b.c.d/len');
    return undefined;
  }
  return { net, given: p.network };
}

/** SubnetLen against the Network and the nodes (etcd mode); unused under --kube-subnet-mgr. */
function lintLeases(p: FlannelPlane, { net, given }: FlannelNetwork, t: Topology, add: Add): void {
  // pkg/subnet/config.go CheckNetworkConfig: SubnetLen <= 30, and at least the network's prefix + 2.
  // Only etcd mode calls it: under --kube-subnet-mgr a lease is the Node's podCIDR, which the
  // controller manager cuts (--node-cidr-mask-size), and SubnetLen is never read.
  if (p.kubeSubnetMgr?.value) {
    if (!p.subnetLen.default)
      add(
        'subnetlen-unused',
        'warning',
        p.subnetLen.at,
        `SubnetLen ${p.subnetLen.value} is not used with --kube-subnet-mgr (${p.kubeSubnetMgr.at}): each node's lease is its ` +
          `Node's podCIDR, /${KUBE_NODE_CIDR_MASK} from kube-controller-manager by default`,
        'remove it, or set --node-cidr-mask-size on kube-controller-manager for another lease size',
      );
  } else if (net.prefix > 28)
    add('network-too-small', 'error', given.at, `Network /${net.prefix} is too small (flannel needs /28 or larger)`, 'widen Network');
  else if (p.subnetLen.value > 30 || p.subnetLen.value < net.prefix + 2)
    add(
      'subnetlen-range',
      'error',
      p.subnetLen.at,
      `SubnetLen ${p.subnetLen.value} does not fit Network /${net.prefix}: flannel needs ${net.prefix + 2} to 30`,
      `set SubnetLen between ${net.prefix + 2} and 30`,
    );
  else {
    // The first lease is never handed out (subnet manager), so nodes need count + 1 leases.
    const leases = 2 ** (p.subnetLen.value - net.prefix) - 1;
    if (leases < t.nodes.length)
      add(
        'leases-short',
        'error',
        p.subnetLen.at,
        `${leases} /${p.subnetLen.value} leases in ${given.value} for ${t.nodes.length} nodes`,
        'widen Network or lengthen SubnetLen',
      );
  }
}

/** What the backend does on this topology: host-gw across a router, MTUs past the underlay less the encapsulation. */
function lintFlannelPaths(p: FlannelPlane, t: Topology, add: Add): void {
  const b = p.backend.value;
  const segments = new Set(t.nodes.map((n) => n.subnet.name)).size;
  if (b === 'host-gw' && segments > 1)
    add(
      'host-gw-across-subnets',
      'error',
      p.backend.at,
      `host-gw needs every node on one L2 segment: this topology has ${segments} subnets, so pods across the router are unreachable`,
      'use "Type": "vxlan" with "DirectRouting": true (plain on one subnet, VXLAN across)',
    );
  const overhead = FLANNEL_OVERHEAD[b];
  // The pods' own MTU (cni-conf.json's delegate) must leave room for the encapsulation.
  const pod = p.podMtu;
  if (pod && overhead !== undefined && pod.value > t.mtu - overhead)
    add(
      'mtu-too-large',
      'error',
      pod.at,
      `MTU ${pod.value} is larger than the underlay's ${t.mtu} minus ${b}'s ${overhead} bytes: full-size packets are dropped or fragmented`,
      `set it to ${t.mtu - overhead} or less (or leave it out: flannel derives it)`,
    );
  // Backend.MTU is the external MTU: flanneld makes flannel.1 MTU - 50, and the pods follow it
  // (flannel v0.28.9 pkg/backend/vxlan/device.go newVXLANDevice). Too large only past the underlay's own.
  const ext = p.mtu;
  if (ext && overhead !== undefined && ext.value > t.mtu)
    add(
      'mtu-too-large',
      'error',
      ext.at,
      `Backend.MTU ${ext.value} (the external MTU: flannel.1 gets ${ext.value - overhead}) is larger than the underlay's ${t.mtu}: ` +
        'full-size packets are dropped or fragmented',
      `set it to ${t.mtu} or less (or leave it out: flanneld takes the interface's)`,
    );
}

/** Every resolved value with its source, flat: "vni", or "pool default-ipv4-ippool ipipMode" for Calico's pools. */
export function planeEntries(plane: FlannelPlane | CalicoPlane): [string, Sourced<string | number | boolean>][] {
  const isSourced = (v: unknown): v is Sourced<string | number | boolean> =>
    typeof v === 'object' && v !== null && 'at' in v && 'value' in v;
  const out: [string, Sourced<string | number | boolean>][] = [];
  // A flannel setting its backend does not read is not shown (host-gw has no VNI, no port; only vxlan routes directly).
  const b = plane.cni === 'flannel' ? plane.backend.value : undefined;
  const unused = (k: string) =>
    b !== undefined &&
    ((k === 'vni' && b !== 'vxlan') ||
      (k === 'port' && !['vxlan', 'udp', 'wireguard'].includes(b)) ||
      (k === 'directRouting' && b !== 'vxlan'));
  for (const [k, v] of Object.entries(plane)) {
    if (unused(k)) continue;
    if (isSourced(v)) out.push([k, v]);
    else if (k === 'pools' && Array.isArray(v)) {
      for (const p of v as CalicoPool[])
        for (const [pk, pv] of Object.entries(p)) if (isSourced(pv)) out.push([`pool ${p.name} ${pk}`, pv]);
    } else if (k === 'bgpPeers' && Array.isArray(v)) {
      for (const [i, pv] of v.entries()) if (isSourced(pv)) out.push([`bgpPeer ${i + 1}`, pv]);
    }
  }
  // An MTU left to detection is a setting too: said, with what the daemon derives it from.
  if (plane.cni === 'flannel' && !plane.mtu) {
    const o = FLANNEL_MTU_OVERHEAD[plane.backend.value];
    const derived = o === undefined ? '' : o ? `; its device and the pods get it minus ${o}` : '; the pods get it';
    out.push(['mtu', { value: 'auto', at: `flanneld: the node interface's MTU${derived}`, default: true }]);
  }
  if (plane.cni === 'calico' && !plane.podMtu)
    out.push([
      'podMtu',
      {
        value: 'auto',
        at: "felix: the node interface's MTU minus the encapsulation in use (IPIP 20, VXLAN 50; int_dataplane.go)",
        default: true,
      },
    ]);
  return out;
}

/** The CNI as a person names it: "flannel", "flannel (Canal)", "Calico (operator)". */
export function cniLabel(c: Conformance): string {
  if (c.plane.cni === 'flannel') return c.plane.canal ? 'flannel (Canal)' : 'flannel';
  const how = { operator: 'operator Installation', manifest: 'manifest install', resources: 'resources' } as const;
  return `Calico (${how[c.plane.install]})`;
}

/** The results.json shape, with what the wire check showed per path when it ran. */
export function conformanceResult(c: Conformance, run?: RunResult, failOn: 'error' | 'warning' = 'error'): ConformanceResult {
  const plane = Object.fromEntries(
    planeEntries(c.plane).map(([k, v]) => [k, { value: v.value, at: v.at, ...(v.default ? { default: true } : {}) }]),
  );
  const paths = c.paths.map((p) => {
    const pairs = run?.pairs.filter((x) => x.path === p.path) ?? [];
    const df = run?.mtuProbes?.find((m) => m.path === p.path);
    return {
      path: p.path,
      does: p.text,
      expected: p.expected,
      ...(p.intended ? { intended: p.intended } : {}),
      ...(run && run.status !== 'skipped' ? { wire: { pairs: pairs.length, ok: pairs.filter((x) => x.ok).length } } : {}),
      ...(df ? { df } : {}),
    };
  });
  // An MTU finding is shown on the wire by the DF packet that did not pass.
  const dropped = run?.mtuProbes?.filter((m) => m.observed === 'dropped') ?? [];
  // The real daemon's proof: what it programmed against what conform read.
  const daemonCheck = run && c.reading ? checkReading(c.reading, run) : undefined;
  const misread = daemonCheck && c.reading ? readingFindings(c.reading, daemonCheck) : [];
  const findings = [...c.findings, ...misread].map((f) =>
    f.rule === 'mtu-too-large' && dropped.length
      ? {
          ...f,
          shown: dropped
            .map((m) => `a ${m.podMtu}-byte DF packet from ${m.src} to ${m.dst} (${m.path}) did not pass; the path carries ${m.pathMtu}`)
            .join('; '),
        }
      : f,
  );
  const bad =
    findings.some((f) => f.severity === 'error' || failOn === 'warning') ||
    paths.some((p) => (p.intended && !p.intended.ok) || (p.wire && p.wire.ok < p.wire.pairs) || (p.df && !p.df.ok)) ||
    run?.status === 'failed';
  return {
    cni: cniLabel(c),
    inputs: c.inputs,
    dataPlane: plane,
    ...(c.pool ? { pool: c.pool } : {}),
    proof: c.proof,
    findings,
    paths,
    ...(daemonCheck ? { daemonCheck } : {}),
    verdict: bad ? 'not conformant' : 'conformant',
  };
}
