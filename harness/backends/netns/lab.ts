// A lab in local network namespaces: built from a topology, programmed with one mode at a time,
// switched live, torn down on success, failure and signals. The netns backend's engine.
import { existsSync, readdirSync } from 'node:fs';
import { CancelledError, CnilabError, UsageError } from '../../errors.ts';
import { kernelFeatures, modeNeeds } from '../../host/doctor.ts';
import { own } from '../../kernel/lifecycle.ts';
import { commOf, killAll, pidsInNetns, processStartTime } from '../../kernel/procs.ts';
import { findMode, allModes } from '../../modes/registry.ts';
import type { ModeContext, ModeDef, ModeSettings } from '../../modes/mode.ts';
import { findStale } from '../../modes/stale.ts';
import { formatCidr, formatIpv4 } from '../../net/ipv4.ts';
import { applyPlan } from '../../node/apply.ts';
import type { NodeExecutor } from '../../node/executor.ts';
import { createNetns, NETNS_DIR, netnsExecutor, netnsPath } from '../../node/netns.ts';
import { snapshotNodes } from '../../node/snapshot.ts';
import { allNetns, IF, labNames, labOfNetns, randomLabName, type LabNames } from '../../plan/names.ts';
import { undoOps } from '../../plan/ops.ts';
import { planUnderlay } from '../../plan/underlay.ts';
import type { Topology } from '../../topology/types.ts';
import type { CapturePoint, LabView, Progress } from '../backend.ts';
import { startBird, type BirdEnv } from './bird.ts';
import { podFamilies } from './pods.ts';
import { labDir, listLabs, readState, removeLabDir, stateProblem, writeState, type LabState } from './state.ts';
import { teardownLab, teardownOrphans } from './teardown.ts';

/** The namespaces in the kernel whose names say they belong to `lab`. */
const liveNamespaces = (lab: string) => (existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR).filter((n) => labOfNetns(n) === lab) : []);

export const NETNS = 'netns' as const;

/** A switch that failed and was undone: the lab is back in its previous mode, verified clean. */
export class SwitchRolledBack extends CnilabError {
  readonly exitCode = 1;
  constructor(target: string, previous: string | undefined, cause: unknown) {
    super(
      `switch to ${target} failed and was rolled back to ${previous ?? 'no mode'} (verified: nothing stale): ` +
        `${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}`,
    );
    this.name = 'SwitchRolledBack';
  }
}

/**
 * Fault injection for the leak and rollback tests (as felix's FV tests do): CNILAB_FAULT=after-underlay
 * makes the build fail there, CNILAB_FAULT=hang-after-underlay makes it wait to be killed, and
 * CNILAB_FAULT=program:MODE fails programming MODE after its kernel ops were applied.
 */
async function injectFault(point: string): Promise<void> {
  const f = process.env.CNILAB_FAULT;
  if (f === point) throw new Error(`injected fault at ${point} (CNILAB_FAULT)`);
  if (f === `hang-${point}`) await new Promise((r) => setTimeout(r, 600_000));
}

export interface LabOptions {
  name?: string;
  settings?: ModeSettings;
  progress?: Progress;
}

export interface StatusJson {
  lab: string;
  mode: string | null;
  /** healthy, degraded (something of the lab is gone from the kernel) or broken (a switch left it so). */
  health: 'healthy' | 'degraded' | 'broken';
  /** What makes it degraded or broken. */
  problems: string[];
  backend: string;
  family: string | null;
  owner: { pid: number } | null;
  nodes: {
    name: string;
    netns: string;
    subnet: string;
    underlayIp: string;
    underlayIf: string;
    podSubnet: string;
    podBlock: string;
    pods: { name: string; netns: string; ip: string | null }[];
  }[];
}

export class Lab implements AsyncDisposable, LabView {
  readonly names: LabNames;
  readonly backend = NETNS;
  private closed = false;
  private release: () => void = () => {};

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
    return this.topology.subnets.map((s) => ({ segment: s.name, exec: netnsExecutor(this.names.switch(s)), iface: 'any' }));
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
    const state: LabState = {
      version: 1,
      lab,
      createdAt: new Date().toISOString(),
      owner: { pid: process.pid, startTime: processStartTime(process.pid) ?? 0 },
      topology,
      netns: allNetns(labNames(lab), topology),
      settings: opts.settings ?? topology.settings,
      pods: [],
      modeOps: [],
      podOps: [],
      daemons: [],
    };
    writeState(state);
    const l = new Lab(state, opts.progress ?? (() => {}));
    l.release = own(l);
    return l;
  }

  /** The underlay: switches, router, nodes and pod namespaces. */
  async build(): Promise<void> {
    const t0 = performance.now();
    await applyPlan(planUnderlay(this.topology, this.names), this.exec, { aborted: () => this.closed, createNodes: createNetns });
    this.progress(`underlay: ${this.state.netns.length} namespaces in ${Math.round(performance.now() - t0)} ms`);
    await injectFault('after-underlay');
  }

  /** Removes a lab whose state file is missing or corrupt, by its namespaces' names. */
  static async downByName(lab: string): Promise<number> {
    const alive = liveNamespaces(lab);
    await teardownOrphans(alive);
    removeLabDir(lab);
    return alive.length;
  }

  /** The lab named, or the only lab up. */
  static attach(name?: string, progress?: Progress): Lab {
    const labs = listLabs();
    const lab = name ?? (labs.length === 1 ? labs[0] : undefined);
    if (!lab) {
      throw new UsageError(
        labs.length === 0 ? 'no lab is up' : `${labs.length} labs are up: ${labs.join(', ')}`,
        labs.length === 0 ? 'start one with "cnilab up --topology FILE --mode MODE"' : 'say which with --name',
      );
    }
    const state = readState(lab);
    const corrupt = stateProblem(lab);
    if (corrupt || !state) {
      const alive = liveNamespaces(lab);
      if (corrupt) {
        throw new UsageError(
          `lab ${lab}: ${corrupt}; ${alive.length} of its namespaces are alive`,
          `"cnilab down --name ${lab}" removes them by name`,
        );
      }
      throw new UsageError(
        `no lab named "${lab}"${alive.length ? ` has a state file, but ${alive.length} of its namespaces are alive` : ''}`,
        alive.length ? `"cnilab down --name ${lab}" removes them by name` : `labs up: ${labs.join(', ') || '(none)'}`,
      );
    }
    return new Lab(state, progress ?? (() => {}));
  }

  ctx(): ModeContext {
    return { topology: this.topology, names: this.names, pods: this.state.pods, settings: this.state.settings };
  }

  birdEnv(): BirdEnv {
    return { topology: this.topology, names: this.names, settings: this.state.settings, labDir: labDir(this.name), exec: this.exec };
  }

  private save(): void {
    writeState(this.state);
  }

  /** Pods for the mode's family (rebuilt only when the family changes), then the mode's own state. */
  private async program(mode: ModeDef): Promise<void> {
    const env = { topology: this.topology, names: this.names, labDir: labDir(this.name), mtu: mode.podMtu(this.topology), exec: this.exec };
    if (this.state.family !== mode.family) {
      const old = this.state.family;
      if (old) {
        const t = performance.now();
        await podFamilies[old].remove(env, { pods: this.state.pods, ops: this.state.podOps });
        this.state.pods = [];
        this.state.podOps = [];
        this.state.family = undefined;
        this.save();
        this.progress(`pods: removed ${old} pods in ${Math.round(performance.now() - t)} ms`);
      }
      const t = performance.now();
      this.state.family = mode.family;
      this.save();
      const setup = await podFamilies[mode.family].add(env);
      this.state.pods = setup.pods;
      this.state.podOps = setup.ops;
      this.save();
      this.progress(`pods: ${setup.pods.length} ${mode.family}-style pods in ${Math.round(performance.now() - t)} ms`);
    }
    const t = performance.now();
    const program = mode.program.kernel;
    const ops = program.plan(this.ctx());
    this.state.mode = mode.name;
    this.state.modeOps = ops;
    this.save();
    await applyPlan(ops, this.exec, { aborted: () => this.closed });
    await injectFault(`program:${mode.name}`);
    if (program.bird) {
      this.state.daemons = await startBird(this.birdEnv(), program.bird, (d) => {
        this.state.daemons.push(d);
        this.save();
      });
      this.save();
    }
    this.progress(`mode ${mode.name}: ${ops.length} kernel operations in ${Math.round(performance.now() - t)} ms`);
  }

  /**
   * Switches atomically: the target must be able to run on this kernel before anything is removed;
   * if programming it fails, the lab rolls back to the previous mode and proves it with the
   * stale-state check, or is marked broken with what is wrong (status says so, down removes it).
   */
  async switchTo(next: ModeDef): Promise<void> {
    const can = modeNeeds(next, {
      kernel: await kernelFeatures(),
      tools: Object.fromEntries(
        next.needs.tools.flatMap((t) => (t === 'bird' ? ['bird', 'birdc'] : [t])).map((t) => [t, { ok: true, detail: '' }]),
      ),
    });
    if (!can.ok) {
      throw new UsageError(
        `mode ${next.name} cannot run on this kernel (${can.detail}); lab ${this.name} is unchanged, still ` +
          `${this.state.mode ?? 'without a mode'}`,
        'run it with "cnilab run --modes ..." (auto places it in a guest)',
      );
    }
    const previous = this.mode;
    await this.unprogram();
    try {
      await this.program(next);
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
        if (stale.length) throw new Error(`after rolling back, the kernel still holds: ${stale.slice(0, 4).join('; ')}`);
      } catch (rb) {
        this.markBroken(
          `switch to ${next.name} failed (${why}); rolling back to ${previous?.name ?? 'no mode'} failed too: ` +
            `${rb instanceof Error ? rb.message.split('\n')[0] : String(rb)}`,
        );
        throw e;
      }
      throw new SwitchRolledBack(next.name, previous?.name, e);
    }
  }

  /** What is wrong with this lab, when a switch left it so. */
  markBroken(reason: string): void {
    this.state.broken = reason;
    this.save();
  }

  /** Removes every trace of the current mode: its daemons, then its ops (forced when rolling back a half-applied one). */
  private async unprogram(force = false): Promise<void> {
    const current = this.mode;
    if (current || force) {
      const t = performance.now();
      // Every BIRD in the lab's namespaces, not only the recorded ones: a stray one would hold port 179.
      const birds = pidsInNetns(this.state.netns.map(netnsPath)).filter((pid) => commOf(pid) === 'bird');
      await killAll([
        ...new Set([...birds, ...this.state.daemons.filter((d) => processStartTime(d.pid) === d.startTime).map((d) => d.pid)]),
      ]);
      this.state.daemons = [];
      await applyPlan(undoOps(this.state.modeOps), this.exec, { force });
      this.state.modeOps = [];
      this.state.mode = undefined;
      this.save();
      this.progress(`mode ${current?.name ?? '(half-programmed)'}: removed in ${Math.round(performance.now() - t)} ms`);
    }
  }

  /** What the kernel holds that the current mode did not put there, per node; empty when clean. */
  async staleState(): Promise<string[]> {
    const snaps = await snapshotNodes(this.topology.nodes.map((n) => ({ name: n.name, exec: this.nodeExecutor(n.name) })));
    const modes = allModes();
    return snaps.flatMap((s) =>
      findStale(s, { podCidr: this.topology.podCidr, mode: this.mode, modes, modeOps: this.state.modeOps, netns: this.names.node(s.node) }),
    );
  }

  /** `cnilab up` hands the lab over: it stays up after this process exits, until `cnilab down`. */
  detach(): void {
    this.state.owner = null;
    this.save();
    this.release();
  }

  /** The state file set against the kernel: every namespace and recorded daemon must be there. */
  health(): Pick<StatusJson, 'health' | 'problems'> {
    const missing = this.state.netns.filter((n) => !existsSync(netnsPath(n))).map((n) => `namespace ${n} is gone`);
    const dead = this.state.daemons
      .filter((d) => processStartTime(d.pid) !== d.startTime)
      .map((d) => `${d.what} (pid ${d.pid}) is not running`);
    if (this.state.broken) return { health: 'broken', problems: [this.state.broken, ...missing, ...dead] };
    return missing.length || dead.length ? { health: 'degraded', problems: [...missing, ...dead] } : { health: 'healthy', problems: [] };
  }

  status(): StatusJson {
    return {
      lab: this.name,
      mode: this.state.mode ?? null,
      ...this.health(),
      backend: NETNS,
      family: this.state.family ?? null,
      owner: this.state.owner ? { pid: this.state.owner.pid } : null,
      nodes: this.topology.nodes.map((n) => ({
        name: n.name,
        netns: this.names.node(n),
        subnet: formatCidr(n.subnet.cidr),
        underlayIp: formatIpv4(n.ip),
        underlayIf: IF.underlay,
        podSubnet: formatCidr(n.podSubnet),
        podBlock: formatCidr(n.podBlock),
        pods: n.pods.map((p) => {
          const rt = this.state.pods.find((x) => x.id === p.id);
          return { name: p.name, netns: this.names.pod(n.name, p.name), ip: rt?.ip ?? null };
        }),
      })),
    };
  }

  private downing?: Promise<void>;

  /** Idempotent: a signal handler and a failing build may both ask at once. */
  down(): Promise<void> {
    this.closed = true;
    this.release();
    this.downing ??= (async () => {
      const t = performance.now();
      const r = await teardownLab(this.state);
      this.progress(`down: ${r.netns} namespaces, ${r.processes} processes in ${Math.round(performance.now() - t)} ms`);
    })();
    return this.downing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.closed) await this.down();
  }
}
