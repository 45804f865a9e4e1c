// A lab's state file. It is written before anything is created, so every namespace a lab may have
// made is known even if the run is killed half-way, and `down` / `gc` work from it alone.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { ModeSettings } from '../../modes/mode.ts';
import type { KubeState } from '../../program/apiserver.ts';
import type { Datastore } from '../../program/etcd.ts';
import type { ProgramState } from '../../program/target.ts';
import type { Topology } from '../../topology/types.ts';
import { processStartTime } from '../../kernel/procs.ts';

export const stateRoot = () => process.env.CNILAB_STATE_DIR ?? '/run/cnilab';

export interface LabState extends ProgramState {
  version: 1;
  lab: string;
  createdAt: string;
  /** The process that must tear the lab down; null once `cnilab up` handed it over to `cnilab down`. */
  owner: { pid: number; startTime: number } | null;
  topology: Topology;
  netns: string[];
  settings: ModeSettings;
  /** Set when a switch failed and could not roll back, or was interrupted: what is wrong. `down` still removes it. */
  broken?: string;
}

export type { Datastore, KubeState };

export const labDir = (lab: string) => `${stateRoot()}/${lab}`;

/** A new lab's state, owned by this process: written before anything exists in the kernel. */
export function newLabState(
  lab: string,
  topology: Topology,
  netns: string[],
  o: { settings: ModeSettings; manifest?: string[] },
): LabState {
  return {
    version: 1,
    lab,
    createdAt: new Date().toISOString(),
    owner: { pid: process.pid, startTime: processStartTime(process.pid) ?? 0 },
    topology,
    netns,
    settings: o.settings,
    pods: [],
    modeOps: [],
    podOps: [],
    daemons: [],
    ...(o.manifest ? { manifest: o.manifest } : {}),
  };
}

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
