// From the user's files to a verdict: which CNI, its data plane with a source for every value, what
// is wrong with it (lint), what it does per pod path (explain, from the same mode the wire check
// judges by), whether that is what the user intends (--expect), and the lab that proves it.
import { UsageError } from '../errors.ts';
import type { ModeDef } from '../modes/mode.ts';
import { findMode } from '../modes/registry.ts';
import { contains, formatCidr, formatIpv4, overlaps, parseCidr } from '../net/ipv4.ts';
import type { ConformanceResult, EncapKind, PathKind, RunResult, WireExpectation } from '../results/schema.ts';
import { resolveTopology } from '../topology/resolve.ts';
import { pathBetween, type Topology, type TopologySpec } from '../topology/types.ts';
import { FLANNEL_BACKENDS, type FlannelPlane, isFlannelDoc, resolveFlannel } from './flannel.ts';
import { dig, docName, type InputDoc } from './inputs.ts';
import { closest, type Finding, type Sourced } from './plane.ts';

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
  cni: 'flannel';
  plane: FlannelPlane;
  /** The mode that programs this data plane, and whether it is the real daemon; or why none can. */
  proof: { mode: string; real: boolean } | { skip: string };
  findings: Finding[];
  paths: PathPlan[];
}

const CALICO_KINDS = new Set(['IPPool', 'Installation', 'FelixConfiguration', 'BGPConfiguration', 'BGPPeer']);
const isCalicoNetworking = (d: InputDoc) => {
  if (d.kind && CALICO_KINDS.has(d.kind)) return true;
  return (
    d.kind === 'ConfigMap' &&
    typeof dig(d.value, 'data', 'calico_backend') === 'string' &&
    typeof dig(d.value, 'data', 'net-conf.json') !== 'string'
  );
};

/** Encapsulation overhead on the pods' MTU per backend: VXLAN 50, flannel's udp 28 (IP + UDP), host-gw none. */
const OVERHEAD: Record<string, number> = { vxlan: 50, udp: 28, 'host-gw': 0 };

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
  /** Can this host run that mode (the real flanneld's first)? */
  runs?: (mode: ModeDef) => boolean;
}

export function conform(
  docs: readonly InputDoc[],
  topology: Topology,
  opts: ConformOptions = {},
): { conformance: Conformance; topology?: Topology; mode?: ModeDef } {
  const flannelDocs = docs.filter(isFlannelDoc);
  const calicoDocs = docs.filter(isCalicoNetworking);
  if (!flannelDocs.length && !calicoDocs.length) {
    throw new UsageError(
      `no CNI configuration in ${docs.length} documents (${[...new Set(docs.map((d) => d.file))].join(', ')})`,
      "give a kube-flannel.yml (its kube-flannel-cfg ConfigMap), a net-conf.json, or Canal's manifest",
    );
  }
  if (flannelDocs.length && calicoDocs.length) {
    throw new UsageError(
      `two CNIs configured at once: flannel in ${docName(flannelDocs[0]!)}, Calico networking in ${docName(calicoDocs[0]!)}`,
      'check one CNI per run (Canal is flannel networking: give its ConfigMap without Calico pools)',
    );
  }
  if (calicoDocs.length) {
    throw new UsageError(
      `${docName(calicoDocs[0]!)}: Calico's inputs are not read yet; this cnilab reads flannel's`,
      "give a kube-flannel.yml, a net-conf.json or Canal's manifest",
    );
  }
  const { plane, findings } = resolveFlannel(docs);
  findings.push(...lintFlannel(plane, topology));

  // The lab this config describes: the topology with the config's network, lease size, VNI and port.
  const problems: string[] = [];
  const resolved = plane.network
    ? resolveTopology(
        {
          ...specOf(topology),
          podCidr: plane.network.value,
          subnetLen: plane.subnetLen.value,
          settings: { ...topology.settings, flannel: { vni: plane.vni.value, port: plane.port.value } },
        },
        (path, message) => problems.push(`${path.join('.')}: ${message}`),
      )
    : undefined;
  const lab = resolved ? ({ ...resolved, ...(topology.source ? { source: topology.source } : {}) } as Topology) : undefined;
  // Said only when no lint finding explains it already.
  if (plane.network && !lab && !findings.some((f) => f.severity === 'error'))
    findings.push({
      rule: 'lab-from-config',
      severity: 'error',
      at: plane.network.at,
      message: `this network does not fit the topology: ${problems[0] ?? 'unknown reason'}`,
      fix: 'widen Network or shorten SubnetLen so every node gets a lease',
    });

  const b = plane.backend.value;
  const base =
    b === 'vxlan' ? (plane.directRouting.value ? 'flannel-vxlan-directrouting' : 'flannel-vxlan') : b === 'host-gw' ? 'flannel-host-gw' : b;
  const real = findMode(`flanneld-${base.replace(/^flannel-/, '')}`);
  const model = findMode(base);
  const runs = opts.runs ?? (() => true);
  const mode = real && runs(real) ? real : model && runs(model) ? model : undefined;
  const proof: Conformance['proof'] = opts.lintOnly
    ? { skip: 'not asked (--lint-only)' }
    : !lab
      ? { skip: 'the config does not describe a lab on this topology (see the findings)' }
      : mode
        ? { mode: mode.name, real: mode === real }
        : { skip: real || model ? `${(real ?? model)!.name} cannot run here` : `cnilab has no mode for flannel's ${b} backend` };

  // What each path does, from the same expectations the wire check judges by.
  const paths: PathPlan[] = [];
  const judge = mode ?? real ?? model;
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
        text: path === 'same-node' ? "plain IP on the node's bridge, never on the underlay" : wireText(expected),
        ...(want ? { intended: { want, ok: want === does } } : {}),
      });
      if (want && want !== does) {
        const responsible = [`Backend.Type "${b}" at ${plane.backend.at}`];
        if (b === 'vxlan') responsible.push(`DirectRouting ${plane.directRouting.value} at ${plane.directRouting.at}`);
        findings.push({
          rule: 'expectation',
          severity: 'error',
          at: plane.backend.at,
          message: `${path}: intended ${want}, the config does ${does} (set by ${responsible.join(', ')})`,
          fix: fixFor(path, want),
        });
      }
    }
  }
  const used = new Set([...flannelDocs]);
  return {
    conformance: {
      inputs: docs.map((d) => ({ document: docName(d), used: used.has(d) })),
      cni: 'flannel',
      plane,
      proof,
      findings,
      paths,
    },
    ...(lab ? { topology: lab } : {}),
    ...(mode && lab ? { mode } : {}),
  };
}

function fixFor(path: PathKind, want: Expectation): string {
  if (want === 'none' && path === 'same-subnet') return 'use "host-gw", or "vxlan" with "DirectRouting": true';
  if (want === 'vxlan') return 'use "Type": "vxlan" (DirectRouting keeps same-subnet pairs plain)';
  if (want === 'none') return 'plain across subnets needs routes on the router: flannel cannot; use Calico BGP with the router as a peer';
  if (want === 'udp') return 'use "Type": "udp" (user-space forwarding: slow)';
  return 'change Backend.Type to one that does this';
}

export function lintFlannel(p: FlannelPlane, t: Topology): Finding[] {
  const out: Finding[] = [];
  const add = (rule: string, severity: Finding['severity'], at: string, message: string, fix: string) =>
    out.push({ rule, severity, at, message, fix });
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
  if (b === 'vxlan' && (p.vni.value < 1 || p.vni.value > 16_777_215))
    add('vni-range', 'error', p.vni.at, `VNI ${p.vni.value} is outside 1-16777215 (24 bits)`, 'pick a VNI in 1-16777215');
  if (p.port.value < 1 || p.port.value > 65_535)
    add('port-range', 'error', p.port.at, `Port ${p.port.value} is not a UDP port`, 'pick a port in 1-65535');
  if (!p.network) {
    add(
      'network-missing',
      'error',
      p.backend.at,
      'no Network: flanneld refuses to start ("please define a correct Network parameter")',
      'set "Network", e.g. "10.244.0.0/16"',
    );
    return out;
  }
  const net = parseCidr(p.network.value);
  if (typeof net === 'string') {
    add('network-invalid', 'error', p.network.at, `Network "${p.network.value}": ${net}`, 'write it as a.b.c.d/len');
    return out;
  }
  // pkg/subnet/config.go CheckNetworkConfig: SubnetLen <= 30, and at least the network's prefix + 2.
  if (net.prefix > 28)
    add('network-too-small', 'error', p.network.at, `Network /${net.prefix} is too small (flannel needs /28 or larger)`, 'widen Network');
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
        `${leases} /${p.subnetLen.value} leases in ${p.network.value} for ${t.nodes.length} nodes`,
        'widen Network or lengthen SubnetLen',
      );
  }
  for (const s of t.subnets)
    if (overlaps(net, s.cidr))
      add(
        'pod-cidr-overlaps-nodes',
        'error',
        p.network.at,
        `Network ${p.network.value} overlaps the node subnet ${formatCidr(s.cidr)} (${s.name})`,
        'pick a pod network apart from every node subnet',
      );
  for (const n of t.nodes)
    if (contains(net, n.ip) && !t.subnets.some((s) => overlaps(net, s.cidr)))
      add(
        'pod-cidr-overlaps-nodes',
        'error',
        p.network.at,
        `Network ${p.network.value} holds node ${n.name}'s address`,
        'pick a pod network apart from the nodes',
      );
  const segments = new Set(t.nodes.map((n) => n.subnet.name)).size;
  if (b === 'host-gw' && segments > 1)
    add(
      'host-gw-across-subnets',
      'error',
      p.backend.at,
      `host-gw needs every node on one L2 segment: this topology has ${segments} subnets, so pods across the router are unreachable`,
      'use "Type": "vxlan" with "DirectRouting": true (plain on one subnet, VXLAN across)',
    );
  const overhead = OVERHEAD[b];
  for (const m of [p.podMtu, p.mtu])
    if (m && overhead !== undefined && m.value > t.mtu - overhead)
      add(
        'mtu-too-large',
        'error',
        m.at,
        `MTU ${m.value} is larger than the underlay's ${t.mtu} minus ${b}'s ${overhead} bytes: full-size packets are dropped or fragmented`,
        `set it to ${t.mtu - overhead} or less (or leave it out: flannel derives it)`,
      );
  return out;
}

/** The results.json shape, with what the wire check showed per path when it ran. */
export function conformanceResult(c: Conformance, run?: RunResult, failOn: 'error' | 'warning' = 'error'): ConformanceResult {
  const plane = Object.fromEntries(
    Object.entries(c.plane)
      .filter((e): e is [string, Sourced<string | number | boolean>] => typeof e[1] === 'object' && e[1] !== null && 'at' in e[1])
      .map(([k, v]) => [k, { value: v.value, at: v.at, ...(v.default ? { default: true } : {}) }]),
  );
  const paths = c.paths.map((p) => {
    const pairs = run?.pairs.filter((x) => x.path === p.path) ?? [];
    return {
      path: p.path,
      does: p.text,
      expected: p.expected,
      ...(p.intended ? { intended: p.intended } : {}),
      ...(run && run.status !== 'skipped' ? { wire: { pairs: pairs.length, ok: pairs.filter((x) => x.ok).length } } : {}),
    };
  });
  const bad =
    c.findings.some((f) => f.severity === 'error' || failOn === 'warning') ||
    paths.some((p) => (p.intended && !p.intended.ok) || (p.wire && p.wire.ok < p.wire.pairs)) ||
    run?.status === 'failed';
  return {
    cni: c.plane.canal ? 'flannel (Canal)' : 'flannel',
    inputs: c.inputs,
    dataPlane: plane,
    proof: c.proof,
    findings: c.findings,
    paths,
    verdict: bad ? 'not conformant' : 'conformant',
  };
}
