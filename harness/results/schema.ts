// The results.json contract. Other tools read this file: fields may be added, never renamed or removed.
import type { ModeSamples, PerfSchedule, PerfStop } from './samples.ts';

export type PathKind = 'same-node' | 'same-subnet' | 'cross-subnet';
/** udp: flannel's udp backend, a bare inner IPv4 packet in a UDP datagram (port 8285), forwarded by flanneld in user space. */
export type EncapKind = 'none' | 'vxlan' | 'ipip' | 'udp';
export type RunStatus = 'passed' | 'failed' | 'skipped';
export type BackendName = 'netns' | 'uml' | 'qemu' | 'kind';

export interface WireExpectation {
  reachable: boolean;
  encap: EncapKind;
  vni?: number;
  port?: number;
}

export interface WireObservation extends WireExpectation {
  rttMs?: number;
  /** Echo requests of this probe seen on the underlay captures. */
  wirePackets?: number;
}

export interface PairResult {
  src: string; // "node/pod"
  dst: string;
  path: PathKind;
  expected: WireExpectation;
  observed: WireObservation;
  ok: boolean;
  /** Why ok is false, in words, when it is. */
  mismatch?: string;
  /**
   * Set when the pair was not judged: the probe did not run (a tool error, a timeout, a missing node;
   * `observed` then holds nothing seen), or a capture it needs is not whole (`observed` holds what the
   * probe saw).
   */
  error?: string;
}

export interface Stat {
  mean: number;
  /** Half-width of the 95% confidence interval of the mean; null in JSON when there was one sample. */
  ci95: number;
  samples: number[];
}

export interface PerfForPath {
  path: 'same-subnet' | 'cross-subnet';
  src: string;
  dst: string;
  reachable: boolean;
  throughputGbps?: Stat;
  /** Several parallel streams (iperf3 -P). */
  throughputGbpsParallel?: Stat;
  rttUs?: RttStats;
  ratioToUnderlay?: { mean: number; ci95: number };
  /** All tests of the path together: total CPU seconds over total GB. */
  cpuSecondsPerGB?: number;
  /** CPU seconds per GB (sender + receiver) per single-stream test, with its interval. */
  cpuPerGB?: Stat;
  cpuRatioToUnderlay?: { mean: number; ci95: number };
  /** Every CPU's cycles per byte moved, per single-stream test, where perf stat counts cycles. */
  cyclesPerByte?: Stat;
}

export interface RttStats {
  p50: number;
  p90: number;
  p99: number;
  /** 95% bootstrap intervals of p50 and p99. */
  p50ci?: [number, number];
  p99ci?: [number, number];
  mean: number;
  jitter: number;
  samples: number;
}

export interface Perf {
  /** False when the backend's timings cannot be compared with the host's (uml). */
  comparable: boolean;
  throughputGbps?: Stat;
  rttUs?: { p50: number; p90: number; p99: number };
  ratioToUnderlay?: { mean: number; ci95: number };
  /** CPU seconds per GB on the headline path, and its ratio to the underlay's (above 1: costlier). */
  cpuPerGB?: Stat;
  cpuRatioToUnderlay?: { mean: number; ci95: number };
  /** host: against the host's underlay; guest: against the underlay measured inside the same guest. */
  ratioScope?: 'host' | 'guest';
  mtu?: { expected: number; observed: number; maxDfPayload: number; pathMtu?: number; podMtuExceedsPath?: boolean };
  paths?: PerfForPath[];
}

/**
 * The DF probe (conform asks for it): a packet as large as the pods' MTU, DF set, between two pods
 * on one path. It must pass exactly when the path carries it (the pods' MTU at most the underlay's
 * minus the encapsulation the mode uses there).
 */
export interface MtuProbe {
  path: PathKind;
  src: string;
  dst: string;
  /** The pods' MTU as set on the sender's eth0: the IP packet size sent. */
  podMtu: number;
  /** The largest pod packet this path carries. */
  pathMtu: number;
  expected: 'passes' | 'dropped';
  observed?: 'passes' | 'dropped';
  ok: boolean;
  /** The probe did not run: not a verdict. */
  error?: string;
}

/** One underlay capture of a check: what tcpdump counted, what its file holds, and whether it is whole. */
export interface CaptureStat {
  segment: string;
  /** tcpdump's own "packets captured" and "packets dropped by kernel", when it printed them. */
  captured?: number;
  droppedByKernel?: number;
  /** Packets read back from the file (the warm-up's and the end marker's included). */
  written: number;
  /** Whether the round's end marker, sent out of the captured interface after the last probe, reached the file. */
  sawEnd: boolean;
  /** Why this capture cannot prove what crossed its segment: every pair it covers is then an error, not a verdict. */
  incomplete?: string;
}

export interface RunResult {
  mode: string;
  /** The mode's pod family (flannel, calico): reports colour by it. */
  family?: string;
  backend: BackendName;
  status: RunStatus;
  reason?: string;
  pairs: PairResult[];
  /** The mode this run switched from on the live lab, when it did. */
  switchedFrom?: string;
  /** Kernel state the previous mode left behind (or this mode failed to program); non-empty fails the run. */
  stale?: string[];
  /** Pcap files written for this run, relative to the results directory. */
  captures?: string[];
  /** Each of those captures as its tcpdump and its file tell it, in the same order. */
  captureStats?: CaptureStat[];
  perf?: Perf;
  /** Faults declared in the topology, checked after the wire check. */
  faults?: FaultResult[];
  /** The real daemon that programmed this mode, when one did (not cnilab's model): "flanneld v0.28.9". */
  daemon?: string;
  /** What that daemon chose and did: its leases, how pods were attached, what it left of its previous backend. */
  daemonFacts?: DaemonFacts;
  /** cnilab's model of the mode against what the real daemon programmed, node by node; empty when they agree. */
  modelDiff?: ModelDiff;
  /** run --manifest, the manifest's own mode: conform's reading of the manifest against what the daemon programmed from it. */
  readingCheck?: DaemonCheck;
  /** Where the time went, in ms: programming (or switching to) the mode, the stale-state check, and the check's own phases. */
  phases?: Partial<Record<Phase, number>>;
  /** How the pairs were probed: the reply deadline and the warm-up that set it. */
  probing?: Probing;
  /** The DF probes, when asked for (conform): one per underlay path. */
  mtuProbes?: MtuProbe[];
  /** With --perf: the pod MTU set and expected, and the largest DF payload that crossed (binary search). */
  mtuSearch?: ModeSamples['mtu'];
}

/**
 * The phases of a mode's run, in ms. build: the lab's first mode only (namespaces, underlay, pods);
 * program: programming the first mode; switch: every later mode (removing the previous one
 * included); teardown: the last mode of a session, until the kernel has removed its namespaces.
 */
export type Phase =
  | 'build'
  | 'program'
  | 'switch'
  | 'stale'
  | 'warmup'
  | 'captureStart'
  | 'probe'
  | 'captureStop'
  | 'decode'
  | 'mtuProbe'
  | 'mtuSearch'
  | 'faults'
  | 'teardown';

export interface Probing {
  /** How long each pair's probe waited for replies after its last request. */
  deadlineMs: number;
  /** Node to node, after the warm-up: the basis of the deadline. */
  underlayRttMs?: { p50: number; max: number };
  /** The warm-up's first round trips, neighbour resolution included: kept out of every pair's RTT. */
  firstContactMs?: { p50: number; max: number };
  /** Pods to their node and nodes to each other, before the pairs; answered ones are resolved. */
  warmup: { probes: number; answered: number; error?: string };
}

export interface DaemonFacts {
  /** The leases the daemon took, node -> CIDR: the pods' addresses come from these. */
  leases: Record<string, string>;
  /** How pods were attached (which CNI plugin chain). */
  cni: string;
  /**
   * What the real daemon left in the kernel from the backend it ran before (a switch restarts it
   * with a new net-conf.json): an observed fact about the daemon, not cnilab's stale-state check.
   */
  leftBehind?: string[];
  /** When a manifest's DaemonSet ran the daemon against the lab's real kube-apiserver. */
  kube?: KubeFacts;
  /** What the real calico-node ran with and wrote (its pool, its choices per node), for the calico-node modes. */
  calico?: CalicoFacts;
  /** What the daemon programmed, read back in a config's words: what `conform` checks its reading against. */
  programmed?: Programmed;
}

/**
 * What a real daemon programmed, read back from the nodes and its own records in the words of a
 * config: network, leaseLength, backend, vni, port, deviceMtu, podMtu, directRouting (flanneld);
 * pool, blockSize, ipipMode, vxlanMode, vni, port, deviceMtu, podMtu (calico-node). A value the nodes
 * disagree on is each node's ("n1 1450, n2 1400").
 */
export type Programmed = Record<string, string | number | boolean>;

export interface CalicoFacts {
  /** "kube-apiserver v1.37.2": the Kubernetes datastore. */
  apiserver: string;
  /** The IPPool as read back after the mode was set: name, cidr, blockSize, ipipMode, vxlanMode. */
  pool: Record<string, unknown>;
  /** Per node: what calico-node wrote on its Node (tunnel addresses, VXLAN MAC) and its blocks. */
  nodes: Record<string, Record<string, string>>;
  /** Where calico-node's environment came from: cnilab's own, or the manifest's DaemonSet as the API server holds it. */
  source: string;
  /** calico-node's environment on the first node (the node's name and IP vary). */
  env: Record<string, string>;
  /** From a manifest: what the lab added to the DaemonSet's pod (a kubelet's and the image's part), each with why. */
  added?: string[];
  /** From a manifest: its workloads the lab does not run, and why. */
  notRun?: string[];
  /** With the topology's router as BGP peer: the BGPConfiguration and BGPPeers written, and the router's BIRD. */
  bgp?: string[];
  /** The daemons per node ("startup", "felix", "confd", "bird"), and how often felix exited and was started again. */
  daemons: string[];
  /** How this mode came: "calico-node started", or "IPPool patched; calico-node kept running" (a switch between pool modes). */
  switched: string;
  felixRestarts: Record<string, number>;
  /** Where the pods' MTU came from (felix's /var/lib/calico/mtu, as install-cni reads it). */
  podMtu: Record<string, number>;
}

export interface KubeFacts {
  /** "kube-apiserver v1.37.2". */
  apiserver: string;
  /** "kube-flannel/kube-flannel-ds", container "kube-flannel". */
  daemonSet: string;
  /** Where its net-conf.json came from, and the Backend it held for this mode. */
  netConf: { from: string; backend: Record<string, unknown>; patched: boolean };
  /** The container's command line as the DaemonSet has it. */
  args: string[];
  /** What cnilab supplied in the kubelet's place, and why. */
  added: string[];
  /** The annotations the daemon wrote on each Node object (flannel.alpha.coreos.com/*), read back. */
  annotations: Record<string, Record<string, string>>;
}

export interface ModelDiff {
  /** The cnilab mode whose plan was compared, fed the daemon's own leases and VTEP MACs. */
  model: string;
  /** How many facts the model planned (devices, addresses, routes, neighbours, FDB entries, MTUs). */
  compared: number;
  /** Each fact that only one side has, per node: "model" (planned, not in the kernel) or "kernel". */
  differences: { node: string; only: 'model' | 'kernel'; fact: string }[];
}

/** One declared fault: what kept working, what was lost, how latency changed, against its thresholds. */
export interface FaultResult {
  name: string;
  kind: string;
  link: string;
  status: RunStatus;
  reason?: string;
  /** What applying the fault itself showed (a link whose carrier did not come back), next to the verdict. */
  note?: string;
  /** Pairs that worked before the fault and still did under it. */
  kept: number;
  /** Pairs that worked before and not under it, "src -> dst". */
  lost: string[];
  /** Probe packets lost among the pairs that worked before. */
  lossPercent: number;
  /** Median RTT of the working pairs before and under the fault. */
  rttMs: { before?: number; under?: number };
}

/** `cnilab conform`: the user's CNI config, what it resolves to, what is wrong with it, and what the wire showed. */
export interface ConformanceResult {
  cni: string;
  /** Every document read, and whether it configured the data plane. */
  inputs: { document: string; used: boolean }[];
  /** Every resolved value with its source ("file:line"); default: the CNI's own, nothing set it. */
  dataPlane: Record<string, { value: string | number | boolean; at: string; default?: boolean }>;
  /** The mode that programmed it here, and whether that was the real daemon; or why nothing could. */
  /** Calico: the pool the lab was built from. */
  pool?: string;
  proof: { mode: string; real: boolean } | { skip: string };
  /** shown: the packet on the wire that proves it (an MTU finding's DF probe). */
  findings: { rule: string; severity: 'error' | 'warning'; at: string; message: string; fix: string; shown?: string }[];
  paths: {
    path: PathKind;
    /** What the config does on this path, in words, and as the oracle's expectation. */
    does: string;
    expected: WireExpectation;
    intended?: { want: string; ok: boolean };
    /** What the wire check showed for the pairs on this path; absent with --lint-only. */
    wire?: { pairs: number; ok: number };
    /** The DF probe of the pods' MTU on this path. */
    df?: MtuProbe;
  }[];
  /**
   * The proof's real daemon against conform's reading: each setting as conform read it and as the
   * daemon programmed it. A setting that disagrees is also a `reading-differs` finding.
   */
  daemonCheck?: DaemonCheck;
  verdict: 'conformant' | 'not conformant';
}

/** conform's reading of a config beside what the real daemon programmed from it, setting by setting. */
export interface DaemonCheck {
  daemon: string;
  settings: { setting: string; read: string | number | boolean; programmed?: string | number | boolean; agree: boolean }[];
}

export interface ResultsFile {
  topology: { name?: string; nodes: { name: string; subnet: string; underlayIp: string }[] };
  runs: RunResult[];
  /** The bare underlay baseline, node to node, measured in the same run (perf only). */
  underlay?: {
    throughputGbps?: Stat;
    throughputGbpsParallel?: Stat;
    rttUs?: { p50: number; p90: number; p99: number; mean: number; jitter: number; samples: number };
    paths?: PerfForPath[];
    /** Seed of the shuffled measurement order, and the order itself per round. */
    seed?: number;
    order?: string[][];
    /** Why the host's sampling stopped (precision reached, budget spent, fixed rounds) and how precise it got. */
    stop?: PerfStop;
    /** Sender and receiver on separate CPUs (iperf3 -A 0 / -A 1). */
    pinned?: boolean;
    /** Each mode measured on a lab of its own, built beside the checked one (no switching inside the rounds). */
    labPerMode?: boolean;
    /** Cycles per byte: counted with perf stat, or why not (a VM without a virtual PMU). */
    cycles?: { counted: true } | { counted: false; why: string };
  };
  /** How guests and the host shared the machine while measuring, and when the host's rounds began. */
  perfSchedule?: PerfSchedule;
  perfSettings?: {
    rounds: number;
    seconds: number;
    rttCount: number;
    streams: number;
    target?: number;
    margin?: number;
    budgetSeconds?: number;
  };
  /** Present while a run is going, and left when it was killed or crashed: which modes are done. */
  incomplete?: { reason: string; done: number; of: number };
  meta?: { cnilab: string; startedAt: string; host: string; kernel: string; durationMs?: number };
  conformance?: ConformanceResult;
}
