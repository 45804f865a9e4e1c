// A lab's state file. It is written before anything is created, so every namespace a lab may have
// made is known even if the run is killed half-way, and `down` / `gc` work from it alone.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { ModeSettings } from '../../modes/mode.ts';
import type { KernelOp } from '../../plan/ops.ts';
import type { Family, PodRuntime } from '../../plan/pods.ts';
import type { DaemonFacts, RunResult } from '../../results/schema.ts';
import type { Topology } from '../../topology/types.ts';

export const stateRoot = () => process.env.CNILAB_STATE_DIR ?? '/run/cnilab';

export interface LabState {
  version: 1;
  lab: string;
  createdAt: string;
  /** The process that must tear the lab down; null once `cnilab up` handed it over to `cnilab down`. */
  owner: { pid: number; startTime: number } | null;
  topology: Topology;
  netns: string[];
  settings: ModeSettings;
  mode?: string;
  family?: Family;
  pods: PodRuntime[];
  /** The current mode's ops, so a switch can undo exactly them. */
  modeOps: KernelOp[];
  /** The current pod family's ops (Calico pods are planned, flannel pods come from CNI). */
  podOps: KernelOp[];
  /** Set when a switch failed and could not roll back, or was interrupted: what is wrong. `down` still removes it. */
  broken?: string;
  /** Daemons started for the mode, by netns (and the lab's etcd, which outlives modes). */
  daemons: { netns: string; pid: number; startTime: number; what: string }[];
  /** The lab's etcd, once a real-daemon mode asked for it. */
  datastore?: Datastore;
  /** The lab's kube-apiserver, once a manifest's lab asked for it. */
  kube?: KubeState;
  /** The manifest a --manifest lab applies to its API server (absolute paths of its files). */
  manifest?: string[];
  /** What the real daemon of the current mode did: its version, leases, model comparison, leftovers. */
  daemonRun?: { mode: string; daemon: string; facts: DaemonFacts } & Pick<RunResult, 'modelDiff'>;
}

/** Where the lab's etcd listens and under which prefix flannel keeps its network. */
export interface Datastore {
  netns: string;
  ip: string;
  prefix: string;
}

/** The lab's kube-apiserver: where it listens, and cnilab's own kubeconfig (through the host's door). */
export interface KubeState {
  netns: string;
  ip: string;
  version: string;
  /** The URL the lab's nodes reach it at. */
  server: string;
  ca: string;
  /** cnilab's admin kubeconfig (https://127.0.0.1:PORT, the forwarder). */
  kubeconfig: string;
  /** Set once the manifest was applied and the nodes registered. */
  applied?: string[];
  /** Where each node's flanneld writes subnet.env (the DaemonSet's mounts say). */
  subnetFiles?: Record<string, string>;
  /** The CNI config the DaemonSet's init container installs, as it was for the current mode. */
  cniConf?: { from: string; content: string; path: string };
}

export const labDir = (lab: string) => `${stateRoot()}/${lab}`;

export function writeState(s: LabState): void {
  // 0700: a lab's folder holds its CA key, kubeconfigs and ServiceAccount tokens (root's alone).
  mkdirSync(labDir(s.lab), { recursive: true, mode: 0o700 });
  chmodSync(labDir(s.lab), 0o700);
  const tmp = `${labDir(s.lab)}/state.json.tmp`;
  writeFileSync(tmp, JSON.stringify(s, null, 1));
  renameSync(tmp, `${labDir(s.lab)}/state.json`);
}

export function readState(lab: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(`${labDir(lab)}/state.json`, 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

/** Why a lab's state file cannot be read, when it exists but is not a state (truncated, edited by hand). */
export function stateProblem(lab: string): string | undefined {
  const file = `${labDir(lab)}/state.json`;
  if (!existsSync(file)) return undefined;
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as Partial<LabState>;
    return s && s.lab === lab && Array.isArray(s.netns) ? undefined : `${file} is not a lab state`;
  } catch (e) {
    return `${file} is corrupt (${(e as Error).message})`;
  }
}

export function listLabs(): string[] {
  try {
    return readdirSync(stateRoot()).filter((d) => readState(d) !== undefined);
  } catch {
    return [];
  }
}

export function removeLabDir(lab: string): void {
  rmSync(labDir(lab), { recursive: true, force: true });
}
