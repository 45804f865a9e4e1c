import type { Cidr, Ipv4 } from '../net/ipv4.ts';

/** Per-family knobs, as the real CNIs expose them: net-conf.json's Backend, FELIX_VXLANVNI/PORT, the AS. */
export interface ModeSettings {
  /**
   * The vxlan backend's VNI and port; `udpPort`: the udp backend's Port when a config sets it (8285
   * otherwise); `mtu`: Backend.MTU, the external MTU flanneld takes instead of the interface's.
   * `given`: net-conf.json's Backend as the user wrote it (conform's proof), handed to flanneld
   * verbatim when its Type is the mode's backend, so the daemon reads the user's own words.
   */
  flannel: { vni: number; port: number; udpPort?: number; mtu?: number; given?: Readonly<Record<string, unknown>> };
  calico: { vxlanVni: number; vxlanPort: number; asn: number };
  /**
   * The pods' MTU when a config sets it (Calico's veth_mtu, flannel's cni-conf.json delegate mtu):
   * programmed as given, even past what the path carries, so conform can show such a packet fail.
   * Unset: each mode derives it from the underlay, as the CNI's auto-detection does.
   */
  podMtu?: number;
}

export const DEFAULT_SETTINGS: ModeSettings = {
  flannel: { vni: 1, port: 8472 },
  calico: { vxlanVni: 4096, vxlanPort: 4789, asn: 64512 },
};

/** A topology as written by a person (after parsing, before resolution). */
export const FAULT_KINDS = ['loss', 'down', 'delay', 'router-restart'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * A fault declared on an underlay link, checked after each mode's wire check: the run reports which
 * pairs kept working and how the latency changed, and fails when a threshold is crossed.
 */
export interface FaultSpec {
  name: string;
  kind: FaultKind;
  /** A node's underlay link (the node's name), or "router": every leg of the router. */
  link: string;
  /** loss: the share of packets dropped on the link (netem on its way out; an nftables drop both ways without netem). */
  percent?: number;
  /** delay: added each way (netem only); router-restart: how long the router stays down. */
  ms?: number;
  expect?: {
    /** kept: every pair that worked still works; lost: every pair that worked across the link stops; any (default). */
    reachable?: 'kept' | 'lost' | 'any';
    /** Of the probes between pairs that worked before, at most this share lost. */
    maxLossPercent?: number;
    /** The median RTT of the pairs still working, at most this. */
    maxRttMs?: number;
  };
}

export interface TopologySpec {
  name: string;
  mtu: number;
  podCidr: string;
  /** flannel's SubnetLen: each node's pod subnet length. */
  subnetLen: number;
  /** Calico's IPAM block size. */
  blockSize: number;
  subnets: { name: string; cidr: string }[];
  router?: { name: string; bgpPeer: boolean };
  nodes: { name: string; subnet: string; ip?: string; pods: string[] }[];
  settings: ModeSettings;
  faults?: FaultSpec[];
}

export interface ResolvedSubnet {
  name: string;
  cidr: Cidr;
  /** The router's leg on this subnet, when there is a router. */
  routerIp?: Ipv4;
}

export interface ResolvedPod {
  name: string;
  /** "node/pod", the id used in results. */
  id: string;
}

export interface ResolvedNode {
  name: string;
  index: number;
  subnet: ResolvedSubnet;
  ip: Ipv4;
  /** flannel's per-node lease (SubnetLen). */
  podSubnet: Cidr;
  /** Calico's per-node IPAM block (blockSize). */
  podBlock: Cidr;
  pods: ResolvedPod[];
}

/** Everything derived and checked: later code never re-parses or re-validates. */
export interface Topology {
  name: string;
  /** The file it came from, if any. */
  source?: string;
  mtu: number;
  podCidr: Cidr;
  subnetLen: number;
  blockSize: number;
  subnets: ResolvedSubnet[];
  router?: { name: string; bgpPeer: boolean };
  nodes: ResolvedNode[];
  /** Mode knobs from the file's flannel: and calico: sections, defaults filled in. */
  settings: ModeSettings;
  faults?: FaultSpec[];
}

import type { PathKind } from '../results/schema.ts';

export type { PathKind };

export function pathBetween(a: ResolvedNode, b: ResolvedNode): PathKind {
  if (a.name === b.name) return 'same-node';
  return a.subnet.name === b.subnet.name ? 'same-subnet' : 'cross-subnet';
}
