// A node executor: "run this, spawn this, apply these kernel ops, read this file, in node X". The lab
// layers above never name a namespace path or a transport; a local network namespace implements it
// now (netns.ts), and a guest agent or a container (docker exec, nsenter into its pid) can too.
import type { CommandResult, RunOptions, Spawned, SpawnOptions } from '../kernel/exec.ts';
import type { KernelOp } from '../plan/ops.ts';

export type ExecOptions = Omit<RunOptions, 'where'>;

export interface NodeExecutor {
  /** Stable and unique within a lab: the namespace name, the guest and namespace, the container. */
  readonly id: string;
  /** The network namespace as a file, for CNI_NETNS and for finding processes inside it. */
  readonly netnsPath: string;
  /**
   * The namespace's name under /run/netns when the host can enter it itself (`ip -n NAME`): plans
   * then apply many such nodes from one process. Undefined behind a transport (a guest, a container).
   */
  readonly hostNetns?: string;
  run(argv: readonly string[], opts?: ExecOptions): Promise<CommandResult>;
  spawn(argv: readonly string[], opts?: SpawnOptions): Spawned;
  /** Applies ops in order, batched per tool (one process for all the ip lines, one for bridge, ...). */
  apply(ops: readonly KernelOp[], opts?: { force?: boolean }): Promise<void>;
  readFile(path: string): Promise<string>;
  /** Does the node still exist? (A namespace deleted by hand, a container gone.) */
  exists(): boolean;
}

/** Finds the executor of a namespace named in a plan (KernelOp.netns). */
export type ExecutorOf = (netns: string) => NodeExecutor;
