// What a programmer or a lab service needs of a lab: its topology and names, the settings of its
// modes, its folder, and how to reach each of its namespaces. A netns lab gives its own; a guest's
// agent the same inside the guest.
import type { ModeSettings } from '../modes/mode.ts';
import type { ExecutorOf } from '../node/executor.ts';
import type { LabNames } from '../plan/names.ts';
import type { Topology } from '../topology/types.ts';

export interface LabEnv {
  topology: Topology;
  names: LabNames;
  settings: ModeSettings;
  labDir: string;
  exec: ExecutorOf;
  /** A lab built for perf rounds: its daemons keep their background work low (etcd.ts). */
  quiet?: boolean;
}
