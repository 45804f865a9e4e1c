// The narrow view of a lab that a programmer acts on: where the lab is (LabEnv), the part of its
// state file that programs own, and the few things a lab does for them (apply kernel ops, record a
// daemon, add a control host, (re)make the pods, read the nodes' kernel state). A netns lab is one
// target; a guest's agent runs the same lab inside its guest.
import type { ManifestObject } from '../kube/client.ts';
import type { KernelOp } from '../plan/ops.ts';
import type { NodeKernelState } from '../plan/kernel-state.ts';
import type { Family, PodRuntime } from '../plan/pods.ts';
import type { DaemonFacts, RunResult } from '../results/schema.ts';
import type { KubeState } from './apiserver.ts';
import type { LabDaemon } from './daemon.ts';
import type { LabEnv } from './env.ts';
import type { Datastore } from './etcd.ts';
import type { PodCni, PodSource } from './pods.ts';

export type Progress = (message: string) => void;

/** What the real daemon of the current mode did: its version, leases, model comparison, leftovers. */
export type DaemonRun = { mode: string; daemon: string; facts: DaemonFacts } & Pick<RunResult, 'modelDiff'>;

/** The part of a lab's state file its programs keep (the rest is the underlay's). */
export interface ProgramState {
  mode?: string;
  /** The current mode's ops, so a switch can undo exactly them. */
  modeOps: KernelOp[];
  family?: Family;
  pods: PodRuntime[];
  /** The current pod family's ops (Calico pods are planned, flannel pods come from CNI). */
  podOps: KernelOp[];
  /**
   * The CNI chain the current pods were attached through, when a real plugin (flannel's, Calico's)
   * attached them: DEL goes through it too.
   */
  podCni?: PodCni;
  /** Daemons of the lab, by netns: the mode's, and the lab's services (etcd, kube-apiserver), which outlive modes. */
  daemons: LabDaemon[];
  /** The lab's etcd, once a real-daemon mode asked for it. */
  datastore?: Datastore;
  /** The lab's kube-apiserver, once a manifest's lab asked for it. */
  kube?: KubeState;
  /** The manifest a --manifest lab applies to its API server (absolute paths of its files). */
  manifest?: string[];
  daemonRun?: DaemonRun;
}

export interface ProgramTarget {
  readonly env: LabEnv;
  readonly state: ProgramState;
  readonly progress: Progress;
  /** Writes the state file (before anything a step makes can outlive this process). */
  save(): void;
  record(d: LabDaemon): void;
  /** Applies ops through the nodes' executors, batched; stops early when the lab is going down. */
  apply(ops: readonly KernelOp[], opts?: { force?: boolean; createNodes?: boolean }): Promise<void>;
  /** Adds a namespace of the lab's own (a control host): recorded in the state before it exists. */
  addHost(netns: string): void;
  /** Pods of `family`: removed and made again (a new family, a new MTU), leases from `source`. */
  setPods(family: Family, source: PodSource): Promise<void>;
  snapshots(): Promise<NodeKernelState[]>;
  /** The manifest's objects, while this process holds them (applied once, by the first mode that needs them). */
  readonly manifestObjects?: readonly ManifestObject[];
}
