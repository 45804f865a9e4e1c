// A lab in local network namespaces: built from a topology, programmed with one mode at a time by
// that mode's programmer (program/), switched live, torn down on success, failure and signals. It
// keeps the underlay, the pods, the state file and the switch transaction; what a mode programs,
// and the daemons that do it, are the programmers'.
import { CancelledError, LabError, SwitchRolledBack, UsageError } from '../../errors.ts';
import { runsOnThisKernel } from '../../host/doctor.ts';
import { injectFault } from '../../kernel/fault.ts';
import { own } from '../../kernel/lifecycle.ts';
import { findMode } from '../../modes/registry.ts';
import type { ModeDef, ModeSettings } from '../../modes/mode.ts';
import { applyPlan } from '../../node/apply.ts';
import type { NodeExecutor } from '../../node/executor.ts';
import { createNetns, netnsExecutor } from '../../node/netns.ts';
import { snapshotNodes } from '../../node/snapshot.ts';
import { allNetns, labNames, randomLabName, type LabNames } from '../../plan/names.ts';
import type { KernelOp } from '../../plan/ops.ts';
import type { Family } from '../../plan/pods.ts';
import { planUnderlay } from '../../plan/underlay.ts';
import type { RunResult } from '../../results/schema.ts';
import type { Topology } from '../../topology/types.ts';
import type { LabDaemon } from '../../program/daemon.ts';
import type { LabEnv } from '../../program/env.ts';
import type { PodSource } from '../../program/pods.ts';
import { replacePods } from './pods.ts';
import { programmerOf, type SwitchOptions, unprogramMode } from '../../program/programmer.ts';
import type { ProgramTarget } from '../../program/target.ts';
import type { CapturePoint, LabManifest, LiveLab, Progress, SessionTimings } from '../backend.ts';
import { claimLock } from '../../kernel/pid-lock.ts';
import { labDir, newLabState, readState, writeState, type LabState } from './state.ts';
import { attachedState, labStatus, NETNS, staleIn, type StatusJson } from './status.ts';
import { teardownSurvivingSignal } from './teardown.ts';

export { NETNS, type StatusJson };

export { SwitchRolledBack };
export type { SwitchOptions };

export interface LabOptions {
  name?: string;
  settings?: ModeSettings;
  progress?: Progress;
  /**
   * A manifest to apply to the lab's own kube-apiserver: flanneld then runs as its DaemonSet says,
   * in --kube-subnet-mgr mode, and a switch goes through its ConfigMap.
   */
  manifest?: LabManifest;
  /** Built for perf rounds: its daemons keep their background work low (flanneld.ts startEtcd). */
  quiet?: boolean;
}

export class Lab implements AsyncDisposable, LiveLab {
  readonly names: LabNames;
  readonly backend = NETNS;
  private closed = false;
  private release: () => void = () => {};

  /** Built for perf rounds (LabOptions.quiet). */
  private quiet = false;
  /** The manifest's objects, until applied (the state keeps only where they came from). */
  private manifestObjects?: LabManifest['objects'];

  private constructor(
    public state: LabState,
    private readonly progress: Progress,
  ) {
    this.names = labNames(state.lab);
  }

  get topology(): Topology {
    return this.state.topology;
  }
  get mode(): ModeDef | undefined {
    return this.state.mode ? findMode(this.state.mode) : undefined;
  }
  /** Whether the lab's etcd is up (it lives until the lab goes down, once a real daemon needed it). */
  runsDatastore(): boolean {
    return this.state.datastore !== undefined;
  }
  get name(): string {
    return this.state.lab;
  }
  get lab(): string {
    return this.state.lab;
  }
  get settings(): ModeSettings {
    return this.state.settings;
  }
  get pods() {
    return this.state.pods;
  }

  executor(netns: string): NodeExecutor {
    return netnsExecutor(netns);
  }
  nodeExecutor(node: string): NodeExecutor {
    return netnsExecutor(this.names.node(node));
  }
  /**
   * Every port of each segment's switch ("any" in its namespace): a capture on the bridge device
   * itself only sees frames it floods or delivers locally.
   */
  get capturePoints(): CapturePoint[] {
    return this.topology.subnets.map((s) => ({
      segment: s.name,
      exec: netnsExecutor(this.names.switch(s)),
      iface: 'any',
      nodes: this.topology.nodes.filter((n) => n.subnet.name === s.name).map((n) => n.name),
    }));
  }

  private readonly exec = (netns: string) => netnsExecutor(netns);

  /** Builds the lab and programs `mode`. On any failure everything made so far is removed. */
  static async up(topology: Topology, mode: ModeDef, opts: LabOptions = {}): Promise<Lab> {
    const l = Lab.create(topology, opts);
    try {
      await l.build();
      await l.program(mode);
      return l;
    } catch (e) {
      await l.down();
      throw e;
    }
  }

  /**
   * Writes the state file and arms teardown before anything exists in the kernel: from here on a
   * signal tears down what there is, and a killed run leaves a state file that gc can act on.
   */
  static create(topology: Topology, opts: LabOptions = {}): Lab {
    const lab = opts.name ?? randomLabName();
    if (readState(lab))
      throw new UsageError(`a lab named "${lab}" is already up`, `pick another --name, or run "cnilab down --name ${lab}" first`);
    const state = newLabState(lab, topology, allNetns(labNames(lab), topology), {
      settings: opts.settings ?? topology.settings,
      ...(opts.manifest ? { manifest: opts.manifest.files } : {}),
    });
    writeState(state);
    const l = new Lab(state, opts.progress ?? (() => {}));
    l.manifestObjects = opts.manifest?.objects;
    l.quiet = opts.quiet === true;
    l.release = own(l);
    return l;
  }

  /** The underlay: switches, router, nodes and pod namespaces. */
  async build(): Promise<void> {
    const t0 = performance.now();
    await applyPlan(planUnderlay(this.topology, this.names), this.exec, { aborted: () => this.closed, createNodes: createNetns });
    this.timings.buildMs = Math.round(performance.now() - t0);
    this.progress(`underlay: ${this.state.netns.length} namespaces in ${this.timings.buildMs} ms`);
    await injectFault('after-underlay');
  }

  /** The lab named, or the only lab up. */
  static attach(name?: string, progress?: Progress): Lab {
    return new Lab(attachedState(name), progress ?? (() => {}));
  }

  /** Where the lab is, for its programmers and services. */
  get env(): LabEnv {
    return {
      topology: this.topology,
      names: this.names,
      settings: this.state.settings,
      labDir: labDir(this.name),
      exec: this.exec,
      ...(this.quiet ? { quiet: true } : {}),
    };
  }

  /** What a mode's programmer acts on (program/target.ts). */
  private get target(): ProgramTarget {
    return {
      env: this.env,
      state: this.state,
      progress: this.progress,
      save: () => this.save(),
      record: (d: LabDaemon) => {
        this.state.daemons.push(d);
        this.save();
      },
      apply: (ops: readonly KernelOp[], opts: { force?: boolean; createNodes?: boolean } = {}) =>
        applyPlan(ops, this.exec, {
          aborted: () => this.closed,
          ...(opts.force ? { force: true } : {}),
          ...(opts.createNodes ? { createNodes: createNetns } : {}),
        }),
      addHost: (netns: string) => {
        if (!this.state.netns.includes(netns)) this.state.netns.push(netns);
        this.save();
      },
      setPods: (family: Family, source: PodSource) => this.setPods(family, source),
      snapshots: () => this.snapshots(),
      ...(this.manifestObjects ? { manifestObjects: this.manifestObjects } : {}),
    };
  }

  private save(): void {
    writeState(this.state);
  }

  /** Pods of the current family removed, then `family`'s made with the lease `source` gives (the topology's by default). */
  private setPods(family: Family, source: PodSource): Promise<void> {
    const base = { topology: this.topology, names: this.names, labDir: labDir(this.name), exec: this.exec };
    return replacePods(this.state, base, family, source, { save: () => this.save(), progress: this.progress });
  }

  /** The mode, by its programmer: pods for its family, then its kernel state. */
  private program(mode: ModeDef, opts: SwitchOptions = {}): Promise<void> {
    return programmerOf(mode).program(this.target, mode, opts);
  }

  private snapshots() {
    return snapshotNodes(this.topology.nodes.map((n) => ({ name: n.name, exec: this.nodeExecutor(n.name) })));
  }

  /** What the real daemon did for the current mode, for its run's result. */
  daemonReport(): Pick<RunResult, 'daemon' | 'daemonFacts' | 'modelDiff'> | undefined {
    const d = this.state.daemonRun;
    if (!d || d.mode !== this.state.mode) return undefined;
    return { daemon: d.daemon, daemonFacts: d.facts, ...(d.modelDiff ? { modelDiff: d.modelDiff } : {}) };
  }

  /**
   * Switches atomically: the target must be able to run on this kernel before anything is removed;
   * if programming it fails, the lab rolls back to the previous mode and proves it with the
   * stale-state check, or is marked broken with what is wrong (status says so, down removes it).
   */
  async switchTo(next: ModeDef, opts: SwitchOptions = {}): Promise<void> {
    const can = await runsOnThisKernel(next);
    if (!can.ok) {
      throw new UsageError(
        `mode ${next.name} cannot run on this kernel (${can.detail}); lab ${this.name} is unchanged, still ` +
          `${this.state.mode ?? 'without a mode'}`,
        'run it with "cnilab run --modes ..." (auto places it in a guest)',
      );
    }
    const previous = this.mode;
    await this.unprogram(false, next);
    try {
      await this.program(next, opts);
      if (this.state.broken) {
        delete this.state.broken;
        this.save();
      }
    } catch (e) {
      const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
      if (e instanceof CancelledError) {
        this.markBroken(`switch to ${next.name} was interrupted`);
        throw e;
      }
      try {
        await this.unprogram(true);
        if (previous) await this.program(previous);
        const stale = await this.staleState();
        if (stale.length) throw new LabError(`after rolling back, the kernel still holds: ${stale.slice(0, 4).join('; ')}`);
      } catch (rb) {
        this.markBroken(
          `switch to ${next.name} failed (${why}); rolling back to ${previous?.name ?? 'no mode'} failed too: ` +
            `${rb instanceof Error ? rb.message.split('\n')[0] : String(rb)}`,
        );
        throw e;
      }
      throw SwitchRolledBack.of(next.name, previous?.name, e);
    }
  }

  get broken(): string | undefined {
    return this.state.broken;
  }

  /** One switch at a time: a second one, 0.3 s later, would interleave with the first. */
  lockSwitch(what: string): () => void {
    const unlock = claimLock(`${labDir(this.name)}/switch.lock`, what, (o) => {
      throw new UsageError(`lab ${this.name} is being switched by pid ${o.pid} (${o.what ?? 'cnilab switch'})`, 'wait for it to finish');
    });
    // Read again under the lock: a switch that ended since this lab was attached changed the state.
    this.state = readState(this.name) ?? this.state;
    return unlock;
  }

  /** What is wrong with this lab, when a switch left it so. */
  markBroken(reason: string): void {
    this.state.broken = reason;
    this.save();
  }

  /** Removes every trace of the current mode (program/programmer.ts unprogramMode); the lab's services stay. */
  private async unprogram(force = false, next?: ModeDef): Promise<void> {
    const current = this.mode;
    if (!current && !force) return;
    const t = performance.now();
    await unprogramMode(this.target, { force, ...(next ? { next } : {}) });
    this.progress(`mode ${current?.name ?? '(half-programmed)'}: removed in ${Math.round(performance.now() - t)} ms`);
  }

  /** What the kernel holds that the current mode did not put there, per node; empty when clean. */
  async staleState(): Promise<string[]> {
    return staleIn(this.state, await this.snapshots());
  }

  /** `cnilab up` hands the lab over: it stays up after this process exits, until `cnilab down`. */
  detach(): void {
    this.state.owner = null;
    this.save();
    this.release();
  }

  status(): StatusJson {
    return labStatus(this.state);
  }

  private downing?: Promise<void>;
  /** Underlay build and teardown (until the kernel finished the namespaces), in ms, once they happened. */
  readonly timings: SessionTimings = {};

  /**
   * Idempotent: a signal handler and a failing build may both ask at once. The lab stays registered
   * for shutdown until its teardown has finished, so a signal that comes mid-teardown waits for it
   * rather than exiting under it; a teardown whose commands the signal killed runs once more.
   */
  down(): Promise<void> {
    this.closed = true;
    this.downing ??= (async () => {
      try {
        const r = await teardownSurvivingSignal(this.state);
        this.timings.teardownMs = r.ms;
        this.progress(r.line);
      } finally {
        this.release();
      }
    })();
    return this.downing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.closed) await this.down();
  }
}
