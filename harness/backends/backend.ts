// One shape for every place a lab runs. A backend is a folder that implements `Backend`; its
// sessions implement `BackendSession`: up (build and program the first mode), program (switch),
// check, stale state, measure, down. The local ones (netns) hand out node executors through a
// `LabView`, and the check layer works on that view; the ones whose nodes sit behind a transport
// (a guest) run the same check where the nodes are and hand back results. The check layer is
// above this one, so it reaches a session as an injected `Checker`, never as an import.
import type { Check } from '../host/doctor.ts';
import type { ManifestObject } from '../kube/client.ts';
import type { HostReport } from '../host/doctor.ts';
import type { ModeDef, ModeSettings } from '../modes/mode.ts';
import type { NodeExecutor } from '../node/executor.ts';
import type { PodRuntime } from '../plan/pods.ts';
import type { BackendName, FaultResult, RunResult } from '../results/schema.ts';
import type { PerfOptions, PerfSamples } from '../results/samples.ts';
import type { Topology } from '../topology/types.ts';

export type { Progress } from '../program/target.ts';
import type { Progress } from '../program/target.ts';

/** A point where the underlay is captured: every port of one segment's switch. */
export interface CapturePoint {
  segment: string;
  exec: NodeExecutor;
  /** The interface captured; "any" captures every interface of the executor's namespace. */
  iface: string;
  /** The topology nodes whose underlay traffic this capture sees: a pair with an end here needs it complete. */
  nodes: readonly string[];
}

/** What the check layer needs of a live lab whose nodes this process can reach. */
export interface LabView {
  readonly lab: string;
  readonly backend: BackendName;
  readonly topology: Topology;
  readonly settings: ModeSettings;
  readonly mode: ModeDef | undefined;
  readonly pods: readonly PodRuntime[];
  /** The executor of a node or pod, by the namespace name the plan uses (PodRuntime.netns). */
  executor(netns: string): NodeExecutor;
  nodeExecutor(node: string): NodeExecutor;
  readonly capturePoints: readonly CapturePoint[];
  /** What a real daemon did for the current mode (its version, leases, the model comparison), when one programmed it. */
  daemonReport?(): Pick<RunResult, 'daemon' | 'daemonFacts' | 'modelDiff'> | undefined;
}

export interface CheckRequest {
  outDir: string;
  /** Pings per pair. */
  count?: number;
  /** How long a capture may lag behind the probes before it counts as incomplete (tcpdump.ts END_WAIT_MS). */
  captureWaitMs?: number;
  /** Also send a DF packet of the pods' MTU on each underlay path (RunResult.mtuProbes). */
  mtuProbe?: boolean;
  /** Also find the largest DF packet that crosses a pod path (RunResult.mtuSearch; --perf). */
  mtuSearch?: boolean;
  progress?: Progress;
}

/** What a check is asked to do, whole, as it crosses to a guest (its folder and progress are the guest's own). */
export type WireCheck = Omit<CheckRequest, 'outDir' | 'progress'>;

/** The check layer, handed to sessions that check locally. */
export interface Checker {
  check(view: LabView, mode: ModeDef, req: CheckRequest): Promise<RunResult>;
  /** The topology's declared faults, each applied, probed against `baseline` and removed. */
  faults(view: LabView, mode: ModeDef, baseline: RunResult, req: CheckRequest): Promise<FaultResult[]>;
  /** Performance rounds; `lab` switches modes between measurements. */
  measure(lab: BackendSession, modes: readonly ModeDef[], opts: PerfOptions): Promise<PerfSamples>;
}

/** What a session can tell of its own build and teardown, in ms (a guest's come from the host's clock). */
export interface SessionTimings {
  buildMs?: number;
  teardownMs?: number;
}

export interface BackendSession extends AsyncDisposable {
  readonly backend: BackendName;
  readonly lab: string;
  /** Builds the lab and programs `mode`. On failure everything made so far is removed. */
  up(mode: ModeDef): Promise<void>;
  /** Switches the live lab: removes every trace of the current mode, then programs `mode`. */
  program(mode: ModeDef): Promise<void>;
  /** Kernel state the current mode did not put there (or failed to put there), per node; empty when clean. */
  staleState(): Promise<string[]>;
  check(mode: ModeDef, req: CheckRequest): Promise<RunResult>;
  faults(mode: ModeDef, baseline: RunResult, req: CheckRequest): Promise<FaultResult[]>;
  measure(modes: readonly ModeDef[], opts: PerfOptions): Promise<PerfSamples>;
  /**
   * Perf only: a live lab per mode, built beside this one from the same topology, each holding its
   * mode, so sampling rounds visit modes without switching (a switch costs 0.1-1.5 s, a test 1 s);
   * torn down with this session. Undefined when it cannot (a manifest's lab switches through its API server).
   */
  perfLabs?(modes: readonly ModeDef[], progress?: Progress): Promise<Map<string, LabView> | undefined>;
  /** Idempotent; safe from a signal handler while anything else is in flight. */
  down(): Promise<void>;
  /** Build and teardown times, when the session measured them itself. */
  readonly timings?: SessionTimings;
  /** The local view, when this process can reach the lab's nodes itself; undefined behind a guest. */
  view(): LabView | undefined;
}

export interface StartOptions {
  name: string;
  settings?: ModeSettings;
  progress?: Progress;
  checker: Checker;
  /** Where results and captures go (a guest shares it). */
  outDir: string;
  /** Console lines of a guest, as they come. */
  onConsole?: (line: string) => void;
  timeoutMs?: number;
  /** The modes this session will program (a guest loads their kernel modules at boot). */
  modes?: readonly ModeDef[];
  /** A manifest for the lab's own kube-apiserver (netns) or a cluster (kind): its DaemonSet runs the real daemon. */
  manifest?: LabManifest;
  /** kind: a cluster of the user's instead of one made for the lab. */
  kubeconfig?: string;
}

/** A user's manifest, parsed: its files (for the record) and its objects, each with where it was written. */
export interface LabManifest {
  files: string[];
  objects: ManifestObject[];
}

/** What `cnilab status` says of a lab left up: its mode, health, owner and nodes (--json prints it whole). */
export interface LabStatus {
  lab: string;
  mode: string | null;
  /** healthy, degraded (something of the lab is gone from the kernel) or broken (a switch left it so). */
  health: 'healthy' | 'degraded' | 'broken';
  /** What makes it degraded or broken. */
  problems: string[];
  backend: string;
  family: string | null;
  /** The real daemon programming the mode ("flanneld v0.28.9"), when one does. */
  daemon?: string;
  /** The lab's etcd, when a real-daemon mode started it. */
  datastore?: string;
  owner: { pid: number } | null;
  /** A manifest's lab: its kube-apiserver, the DaemonSet that ran flanneld, what flanneld annotated each Node with. */
  kube?: {
    apiserver: string;
    server: string;
    kubeconfig: string;
    manifest: string[];
    daemonSet?: string;
    backend?: string;
    /** Whose annotations `annotations` shows: flanneld's, or what calico-node wrote on its Node. */
    annotationsBy: 'flannel annotations' | 'calico-node on the Node';
    /** Per node, in short: backend-type, public-ip, VtepMAC; or Calico's tunnel address and VTEP MAC (in full: `annotationsFull`). */
    annotations: Record<string, string>;
    annotationsFull: Record<string, Record<string, string>>;
  };
  nodes: {
    name: string;
    netns: string;
    subnet: string;
    underlayIp: string;
    underlayIf: string;
    podSubnet: string;
    podBlock: string;
    /** The range its pods' addresses are in (the block for Calico-style pods, the subnet for flannel's). */
    podRange: string;
    pods: { name: string; netns: string; ip: string | null }[];
  }[];
}

/** A lab left up by `cnilab up`, reached again by name: what `switch`, `check`, `status` and `down` act on. */
export interface AttachedLab {
  readonly name: string;
  readonly backend: BackendName;
  status(): LabStatus;
  /** Refuses (a UsageError with `fix`) when a live run owns the lab: `doing` says what was asked of it. */
  refuseIfRunOwned(doing: string, fix: string): void;
  /** Removes the lab; says how when it is worth saying ("12 namespaces removed by name"). */
  down(): Promise<string | undefined>;
  /** The lab's nodes, when this process reaches them itself: switched and checked live (netns). */
  live(): Promise<LiveLab | undefined>;
}

/** A lab whose nodes this process reaches: the check layer works on it, `switch` reprograms it. */
export interface LiveLab extends LabView {
  readonly name: string;
  /** Why it cannot be checked: a switch that was interrupted left it neither mode. */
  readonly broken: string | undefined;
  /** One switch at a time on a lab: refuses while another holds it; returns the release. */
  lockSwitch(what: string): () => void;
  switchTo(mode: ModeDef, opts?: { keepDaemonLeftovers?: boolean }): Promise<void>;
  markBroken(reason: string): void;
  staleState(): Promise<string[]>;
}

export interface Backend {
  readonly name: BackendName;
  /** Whether timings here can be set against the host's (false inside an emulated guest). */
  readonly comparable: boolean;
  /** Host CPUs a running session keeps busy (a guest's emulated CPUs); the perf schedule counts them. */
  readonly cpus?: number;
  /** Never chosen by --backend auto, only when named (a cluster is made only when asked for). */
  readonly onlyWhenAsked?: boolean;
  /** Can this backend run at all here? (installed, and for guests: does one boot) */
  available(): Promise<Check>;
  /** Can it run this mode, given what the host has? Only asked when available. */
  supports(mode: ModeDef, host: Pick<HostReport, 'kernel' | 'tools'>): Check;
  start(topology: Topology, opts: StartOptions): Promise<BackendSession>;
  /** Removes what dead runs of this backend left behind; returns what it removed, in words. */
  reap(): Promise<string[]>;
  /**
   * The lab named, when it is this backend's (undefined when not); without a name, the only lab up.
   * A backend without it has no lab that outlives its run.
   */
  attach?(name: string | undefined, progress?: Progress): AttachedLab | undefined;
  /** `cnilab up`: builds a lab, programs `mode` and leaves it up after this process, until `down`. */
  leaveUp?(topology: Topology, mode: ModeDef, opts: LeaveUpOptions): Promise<LiveLab>;
}

export interface LeaveUpOptions {
  name?: string;
  progress?: Progress;
  manifest?: LabManifest;
  settings?: ModeSettings;
}
