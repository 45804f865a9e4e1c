// A programmer per kind of program: how a mode gets into a lab's kernel. `programmerOf` is the one
// place that asks what kind a mode is (its `program` data): the lab, the guest agent and the
// reports only call what it returns.
import { killAll, pidsInNetns } from '../kernel/procs.ts';
import type { ModeDef } from '../modes/mode.ts';
import { findMode } from '../modes/registry.ts';
import { netnsPath } from '../plan/names.ts';
import { undoOps } from '../plan/ops.ts';
import { isRunningDaemon, type LabDaemon } from './daemon.ts';
import { kernelPlanProgrammer } from './kernel-plan.ts';
import { realCalicoProgrammer } from './real-calico.ts';
import { realFlanneldProgrammer } from './real-flanneld.ts';
import type { ProgramTarget } from './target.ts';

export interface SwitchOptions {
  /**
   * A real daemon restarted with a new backend may leave its previous backend's state (flanneld
   * leaves flannel.1 and its routes). It is always recorded; kept only when asked (`switch
   * --keep-leftovers`), to see what it does to traffic.
   */
  keepDaemonLeftovers?: boolean;
}

export interface Programmer {
  /** The kind of program, as data: two modes of one kind hand over to each other (a daemon's restart). */
  readonly kind: 'kernel-plan' | 'real-flanneld' | 'real-calico';
  /**
   * Programs `mode` on a lab in no mode: its pods (for its family), then its kernel state, by its
   * plan or by its daemons. Records every op and daemon in the target's state as it goes.
   */
  program(t: ProgramTarget, mode: ModeDef, opts: SwitchOptions): Promise<void>;
  /**
   * Removes the kernel state its daemon wrote (not a plan's: those are undone from modeOps), once
   * its daemons are stopped and the next mode is of another kind.
   */
  clear?(t: ProgramTarget): Promise<void>;
  /**
   * Whether a switch from `from` (this kind's) to `to` keeps the daemons running, as users switch:
   * a Calico pool patch that the running felix follows by itself. Else a switch stops them first.
   */
  keepsDaemons?(from: ModeDef, to: ModeDef): boolean;
}

/** The programmer of a mode, by its program's kind. Exhaustive: a new kind of program fails to compile here. */
export function programmerOf(mode: ModeDef): Programmer {
  const p = mode.program;
  if ('kernel' in p) return kernelPlanProgrammer(p.kernel);
  if ('flanneld' in p) return realFlanneldProgrammer(p.flanneld);
  if ('calicoNode' in p) return realCalicoProgrammer(p.calicoNode);
  const never: never = p;
  throw new Error(`mode ${mode.name}: no programmer for ${JSON.stringify(never)}`);
}

/**
 * Removes every trace of the current mode: its daemons (unless the next mode takes them over as they
 * run), then what a daemon wrote (only when the next mode is of another kind: a restart with a new
 * backend is what users do, and what survives it is recorded as a fact about the daemon), then its
 * ops (forced when rolling back a half-applied one).
 */
export async function unprogramMode(t: ProgramTarget, opts: { force: boolean; next?: ModeDef }): Promise<void> {
  const run = t.state.daemonRun ? findMode(t.state.daemonRun.mode) : undefined;
  const writer = run ? programmerOf(run) : undefined;
  const handOver = !opts.force && run !== undefined && opts.next !== undefined && writer?.keepsDaemons?.(run, opts.next) === true;
  if (!handOver) await stopModeDaemons(t);
  if (writer?.clear && (opts.force || !opts.next || programmerOf(opts.next).kind !== writer.kind)) await writer.clear(t);
  await t.apply(undoOps(t.state.modeOps), { force: opts.force });
  t.state.modeOps = [];
  t.state.mode = undefined;
  t.save();
}

/**
 * Stops the mode's daemons: the recorded ones (pid + start time), and any process left in the
 * nodes' and router's namespaces (a daemon killed between its start and its record would hold its
 * port). The lab's services live in namespaces of their own and stay.
 */
async function stopModeDaemons(t: ProgramTarget): Promise<void> {
  const { topology, names } = t.env;
  const service = (d: LabDaemon) => d.netns === t.state.datastore?.netns || d.netns === t.state.kube?.netns;
  const modeNetns = [...topology.nodes.map((n) => names.node(n)), ...(topology.router ? [names.router()] : [])];
  // One batch: the recorded ones still running (pid + start time) and whatever else lives there.
  const recorded = t.state.daemons.filter((d) => !service(d) && isRunningDaemon(d)).map((d) => d.pid);
  await killAll([...new Set([...recorded, ...pidsInNetns(modeNetns.map(netnsPath))])]);
  t.state.daemons = t.state.daemons.filter(service);
}
