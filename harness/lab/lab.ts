// A running lab: built from a topology, programmed with one mode at a time, switched live, torn
// down on success, failure and signals.
import { applyPlan } from '../kernel/apply.ts';
import { commOf, killAll, pidsInNetns, processStartTime } from '../kernel/procs.ts';
import { getMode } from '../modes/registry.ts';
import { type ModeContext, type ModeDef, type ModeSettings } from '../modes/mode.ts';
import { allNetns, IF, labNames, randomLabName, type LabNames } from '../plan/names.ts';
import { undoOps } from '../plan/ops.ts';
import { planUnderlay } from '../plan/underlay.ts';
import { podFamilies } from '../pods/family.ts';
import { formatCidr, formatIpv4 } from '../net/ipv4.ts';
import type { Topology } from '../topology/types.ts';
import { labDir, listLabs, readState, writeState, type LabState } from './state.ts';
import { teardownLab } from './teardown.ts';
import { UsageError } from '../errors.ts';
import { startBird } from './bird.ts';
import { findStale, snapshotNodes } from './inspect.ts';

export type Progress = (message: string) => void;

/**
 * Fault injection for the leak tests (as felix's FV tests do): CNILAB_FAULT=after-underlay makes the
 * build fail there, CNILAB_FAULT=hang-after-underlay makes it wait to be killed.
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

/** Labs owned by this process, torn down by the signal handler if the process is interrupted. */
export const ownedLabs = new Set<Lab>();

export class Lab implements AsyncDisposable {
  readonly names: LabNames;
  private closed = false;

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
    return this.state.mode ? getMode(this.state.mode) : undefined;
  }
  get name(): string {
    return this.state.lab;
  }

  /** Builds the lab and programs `mode`. On any failure everything made so far is removed. */
  static async up(topology: Topology, mode: ModeDef, opts: LabOptions = {}): Promise<Lab> {
    const lab = opts.name ?? randomLabName();
    const names = labNames(lab);
    if (readState(lab)) throw new UsageError(`a lab named "${lab}" is already up`, `pick another --name, or run "cnilab down --name ${lab}" first`);
    const state: LabState = {
      version: 1,
      lab,
      createdAt: new Date().toISOString(),
      owner: { pid: process.pid, startTime: processStartTime(process.pid) ?? 0 },
      topology,
      netns: allNetns(names, topology),
      backend: 'netns',
      settings: opts.settings ?? topology.settings,
      pods: [],
      modeOps: [],
      podOps: [],
      daemons: [],
    };
    // Intent first: from here on, a killed run leaves a state file that gc can act on.
    writeState(state);
    const l = new Lab(state, opts.progress ?? (() => {}));
    ownedLabs.add(l);
    try {
      const t0 = performance.now();
      await applyPlan(planUnderlay(topology, names), { aborted: () => l.closed });
      l.progress(`underlay: ${state.netns.length} namespaces in ${Math.round(performance.now() - t0)} ms`);
      await injectFault('after-underlay');
      await l.program(mode);
      return l;
    } catch (e) {
      await l.down();
      throw e;
    }
  }

  /** The lab named, or the only lab up. */
  static attach(name?: string, progress?: Progress): Lab {
    const labs = listLabs();
    const lab = name ?? (labs.length === 1 ? labs[0] : undefined);
    if (!lab) {
      throw new UsageError(labs.length === 0 ? 'no lab is up' : `${labs.length} labs are up: ${labs.join(', ')}`, labs.length === 0 ? 'start one with "cnilab up --topology FILE --mode MODE"' : 'say which with --name');
    }
    const state = readState(lab);
    if (!state) throw new UsageError(`no lab named "${lab}"`, `labs up: ${labs.join(', ') || '(none)'}`);
    return new Lab(state, progress ?? (() => {}));
  }

  ctx(): ModeContext {
    return { topology: this.topology, names: this.names, pods: this.state.pods, settings: this.state.settings };
  }

  private save(): void {
    writeState(this.state);
  }

  /** Pods for the mode's family (rebuilt only when the family changes), then the mode's own state. */
  private async program(mode: ModeDef): Promise<void> {
    const env = { topology: this.topology, names: this.names, labDir: labDir(this.name), mtu: mode.podMtu(this.topology) };
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
    const ops = mode.plan(this.ctx());
    this.state.mode = mode.name;
    this.state.modeOps = ops;
    this.save();
    await applyPlan(ops, { aborted: () => this.closed });
    if (mode.bird) {
      this.state.daemons = await startBird(this, mode.bird, (d) => {
        this.state.daemons.push(d);
        this.save();
      });
      this.save();
    }
    this.progress(`mode ${mode.name}: ${ops.length} kernel operations in ${Math.round(performance.now() - t)} ms`);
  }

  /** Removes every trace of the current mode, then programs the next one. */
  async switchTo(next: ModeDef): Promise<void> {
    const current = this.mode;
    if (current) {
      const t = performance.now();
      // Every BIRD in the lab's namespaces, not only the recorded ones: a stray one would hold port 179.
      const birds = pidsInNetns(this.state.netns).filter((pid) => commOf(pid) === 'bird');
      await killAll([...new Set([...birds, ...this.state.daemons.filter((d) => processStartTime(d.pid) === d.startTime).map((d) => d.pid)])]);
      this.state.daemons = [];
      await applyPlan(undoOps(this.state.modeOps));
      this.state.modeOps = [];
      this.state.mode = undefined;
      this.save();
      this.progress(`mode ${current.name}: removed in ${Math.round(performance.now() - t)} ms`);
    }
    await this.program(next);
  }

  /** What the kernel holds that the current mode did not put there, per node; empty when clean. */
  async staleState(): Promise<string[]> {
    const snaps = await snapshotNodes(this.topology.nodes.map((n) => ({ name: n.name, netns: this.names.node(n) })));
    return snaps.flatMap((s) => findStale(s, { podCidr: this.topology.podCidr, mode: this.mode, modeOps: this.state.modeOps, netns: this.names.node(s.node) }));
  }

  /** `cnilab up` hands the lab over: it stays up after this process exits, until `cnilab down`. */
  detach(): void {
    this.state.owner = null;
    this.save();
    ownedLabs.delete(this);
  }

  status(): StatusJson {
    return {
      lab: this.name,
      mode: this.state.mode ?? null,
      backend: this.state.backend,
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
    ownedLabs.delete(this);
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
