// A lab in local network namespaces: built from a topology, programmed with one mode at a time,
// switched live, torn down on success, failure and signals. The netns backend's engine.
import { CancelledError, CnilabError, UsageError } from '../../errors.ts';
import { kernelFeatures, modeNeeds } from '../../host/doctor.ts';
import { own } from '../../kernel/lifecycle.ts';
import { commOf, killAll, pidsInNetns, processStartTime } from '../../kernel/procs.ts';
import { findMode, allModes } from '../../modes/registry.ts';
import { type FlanneldProgram, kernelProgram, type ModeContext, type ModeDef, type ModeSettings, podMtuOf } from '../../modes/mode.ts';
import { deviceMatcher, findStale } from '../../modes/stale.ts';
import { routeIn } from '../../net/ipv4.ts';
import { applyPlan } from '../../node/apply.ts';
import type { NodeExecutor } from '../../node/executor.ts';
import { inFlightExited, isCancelled } from '../../kernel/exec.ts';
import { createNetns, netnsExecutor, netnsPath } from '../../node/netns.ts';
import { snapshotNodes } from '../../node/snapshot.ts';
import { allNetns, IF, labNames, randomLabName, type LabNames } from '../../plan/names.ts';
import { planControlHost, planDatastore } from '../../plan/datastore.ts';
import type { NodeKernelState } from '../../plan/kernel-state.ts';
import { diffFacts, factDevice, kernelFacts, plannedFacts, removeFactsOps } from '../../plan/model-diff.ts';
import { type KernelOp, undoOps } from '../../plan/ops.ts';
import { type Family, flannelPluginConf, topologyLease } from '../../plan/pods.ts';
import { planUnderlay } from '../../plan/underlay.ts';
import type { RunResult } from '../../results/schema.ts';
import type { Topology } from '../../topology/types.ts';
import type { CapturePoint, LabManifest, LabView, Progress, SessionTimings } from '../backend.ts';
import { startBird, type BirdEnv } from './bird.ts';
import {
  type FlanneldEnv,
  type Lease,
  leftBehind,
  readLeases,
  readSubnetEnv,
  startEtcd,
  startFlanneld,
  subnetFile,
  waitFlanneld,
  withLeases,
} from './flanneld.ts';
import { startApiserver } from './apiserver.ts';
import { applyToLab, type DaemonSetRun, flannelAnnotations, readKubeLeases, startFlanneldFromDaemonSet } from './kube-flannel.ts';
import { type FamilyEnv, podFamilies } from './pods.ts';
import { type Datastore, type KubeState, labDir, readState, removeLabDir, writeState, type LabState } from './state.ts';
import { attachedState, labHealth, labStatus, liveNamespaces, NETNS, type StatusJson } from './status.ts';
import { teardownLab, teardownOrphans } from './teardown.ts';

/** The namespaces in the kernel whose names say they belong to `lab`. */

export { NETNS, type StatusJson };

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

export interface SwitchOptions {
  /**
   * A real daemon restarted with a new backend may leave its previous backend's state (flanneld
   * leaves flannel.1 and its routes). It is always recorded; kept only when asked (`switch
   * --keep-leftovers`), to see what it does to traffic.
   */
  keepDaemonLeftovers?: boolean;
}

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

export class Lab implements AsyncDisposable, LabView {
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
      ...(opts.manifest ? { manifest: opts.manifest.files } : {}),
    };
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

  /** Removes a lab whose state file is missing or corrupt, by its namespaces' names. */
  static async downByName(lab: string): Promise<number> {
    const alive = liveNamespaces(lab);
    await teardownOrphans(alive);
    removeLabDir(lab);
    return alive.length;
  }

  /** The lab named, or the only lab up. */
  static attach(name?: string, progress?: Progress): Lab {
    return new Lab(attachedState(name), progress ?? (() => {}));
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

  /** How pods of `family` get their lease: flanneld's subnet.env for its own pods, else the topology. */
  private familyEnv(family: Family, mtu: number): FamilyEnv {
    const fenv = this.flanneldEnv();
    const cni = family === 'flanneld' ? this.state.kube?.cniConf : undefined;
    const conf = cni ? flannelPluginConf(cni.content) : undefined;
    if (typeof conf === 'string') throw new UsageError(`${cni!.from}: ${conf}`, 'give the CNI config the flannel plugin reads');
    return {
      ...(conf ? { flannelConf: conf } : {}),
      topology: this.topology,
      names: this.names,
      labDir: labDir(this.name),
      mtu,
      exec: this.exec,
      ...(family === 'flanneld' && process.env.CNILAB_FLANNEL_CNI
        ? {
            flannelCni: {
              plugin: process.env.CNILAB_FLANNEL_CNI,
              subnetFile: (node: string) => subnetFile(fenv, node),
              ...(this.settings.podMtu ? { mtu: this.settings.podMtu } : {}),
            },
          }
        : {}),
      lease: (node) => {
        if (family !== 'flanneld') return topologyLease(this.topology, node, mtu);
        const s = readSubnetEnv(fenv, node.name);
        if (!s) throw new Error(`flanneld wrote no subnet.env for ${node.name} (${subnetFile(fenv, node.name)})`);
        // A cni-conf.json delegate mtu wins over subnet.env's (flannel-io/cni-plugin flannel_linux.go doCmdAdd).
        return this.settings.podMtu ? { ...s, mtu: this.settings.podMtu } : s;
      },
    };
  }

  private async removePods(): Promise<void> {
    const old = this.state.family;
    if (!old) return;
    const t = performance.now();
    await podFamilies[old].remove(this.familyEnv(old, 0), { pods: this.state.pods, ops: this.state.podOps });
    this.state.pods = [];
    this.state.podOps = [];
    this.state.family = undefined;
    this.save();
    this.progress(`pods: removed ${old} pods in ${Math.round(performance.now() - t)} ms`);
  }

  private async addPods(family: Family, mtu: number): Promise<void> {
    const t = performance.now();
    this.state.family = family;
    this.save();
    const setup = await podFamilies[family].add(this.familyEnv(family, mtu));
    this.state.pods = setup.pods;
    this.state.podOps = setup.ops;
    this.save();
    this.progress(`pods: ${setup.pods.length} ${family}-style pods in ${Math.round(performance.now() - t)} ms`);
  }

  /** Pods for the mode's family (rebuilt only when the family changes), then the mode's own state. */
  private async program(mode: ModeDef, opts: SwitchOptions = {}): Promise<void> {
    if ('flanneld' in mode.program) return this.programFlanneld(mode, mode.program.flanneld, opts);
    if (this.state.family !== mode.family) {
      await this.removePods();
      await this.addPods(mode.family, podMtuOf(mode, this.topology, this.settings));
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
      await startBird(this.birdEnv(), program.bird, (d) => this.recordDaemon(d));
      this.save();
    }
    this.progress(`mode ${mode.name}: ${ops.length} kernel operations in ${Math.round(performance.now() - t)} ms`);
  }

  private recordDaemon(d: LabState['daemons'][number]): void {
    this.state.daemons.push(d);
    this.save();
  }

  flanneldEnv(): FlanneldEnv {
    return {
      topology: this.topology,
      names: this.names,
      settings: this.state.settings,
      labDir: labDir(this.name),
      exec: this.exec,
      ...(this.state.kube?.subnetFiles ? { subnetFiles: this.state.kube.subnetFiles } : {}),
      ...(this.quiet ? { quiet: true } : {}),
    };
  }

  /**
   * The lab's kube-apiserver (its namespace recorded before it exists, on the datastore's subnet),
   * then the manifest applied to it and one Node per lab node registered: once per lab.
   */
  private async ensureKube(ds: Datastore): Promise<KubeState> {
    if (!this.state.kube) {
      const t = performance.now();
      const plan = planControlHost(this.topology, this.names, 'apiserver', [ds.ip]);
      if (!this.state.netns.includes(plan.netns)) this.state.netns.push(plan.netns);
      this.save();
      await applyPlan(plan.ops, this.exec, { aborted: () => this.closed, createNodes: createNetns });
      this.state.kube = await startApiserver(this.flanneldEnv(), ds, plan, (d) => this.recordDaemon(d));
      this.save();
      this.progress(
        `kube-apiserver ${this.state.kube.version} serving at ${this.state.kube.server} in ${Math.round(performance.now() - t)} ms`,
      );
    }
    const kube = this.state.kube;
    if (!kube.applied) {
      if (!this.manifestObjects) throw new Error(`lab ${this.name}: its manifest was never applied, and this process does not hold it`);
      kube.applied = await applyToLab(this.flanneldEnv(), kube, this.manifestObjects, this.progress);
      this.save();
    }
    return kube;
  }

  /** The lab's etcd: its namespace on the first subnet (recorded before it exists), then the daemon. */
  private async ensureDatastore(): Promise<Datastore> {
    if (this.state.datastore) return this.state.datastore;
    const plan = planDatastore(this.topology, this.names);
    if (!this.state.netns.includes(plan.netns)) this.state.netns.push(plan.netns);
    this.save();
    await applyPlan(plan.ops, this.exec, { aborted: () => this.closed, createNodes: createNetns });
    const ds: Datastore = { netns: plan.netns, ip: plan.ip, prefix: `/cnilab/${this.name}/network` };
    await startEtcd(this.flanneldEnv(), ds, (d) => this.recordDaemon(d));
    this.state.datastore = ds;
    this.save();
    return ds;
  }

  /**
   * A mode the real flanneld programs: net-conf.json into the lab's etcd, flanneld restarted on
   * every node (a backend change is a restart, as with the DaemonSet), pods re-attached from the
   * leases it wrote, then its kernel state compared with cnilab's model for the same leases.
   */
  private async programFlanneld(mode: ModeDef, fl: FlanneldProgram, opts: SwitchOptions): Promise<void> {
    const t = performance.now();
    let env = this.flanneldEnv();
    const ds = await this.ensureDatastore();
    const kube = this.state.manifest ? await this.ensureKube(ds) : undefined;
    const podCidr = this.topology.podCidr;
    const anyFlanneld = deviceMatcher(allModes().flatMap((m) => ('flanneld' in m.program ? m.owns.devices : [])));
    const factsOf = (snaps: readonly NodeKernelState[]) => new Map(snaps.map((s) => [s.node, kernelFacts(s, podCidr, anyFlanneld)]));
    // What the previous flanneld left in the kernel, to tell its leftovers from what this backend programs.
    const restarted = this.state.daemonRun !== undefined;
    const before = restarted ? factsOf(await this.snapshots()) : undefined;
    this.state.mode = mode.name;
    this.state.modeOps = [];
    this.save();
    let version: string;
    let fromDs: DaemonSetRun | undefined;
    if (kube) {
      fromDs = await startFlanneldFromDaemonSet(env, kube, { config: mode.config, backend: fl.backend(this.settings) }, (d) =>
        this.recordDaemon(d),
      );
      kube.subnetFiles = fromDs.subnetFiles;
      kube.cniConf = fromDs.cniConf;
      this.save();
      env = this.flanneldEnv();
      version = fromDs.version;
      if (fromDs.netConf.patched)
        this.progress(`mode ${mode.name}: ${fromDs.netConf.from} patched to Backend ${JSON.stringify(fromDs.netConf.backend)}`);
    } else {
      ({ version } = await startFlanneld(env, ds, fl.backend(this.settings), (d) => this.recordDaemon(d)));
    }
    await injectFault(`program:${mode.name}`);
    // Settling counts from here: the API server's start and the manifest's apply are said apart.
    const started = performance.now();
    const model = fl.model;
    const leasesOf = kube ? () => readKubeLeases(kube) : () => readLeases(env, ds);
    const leases = await waitFlanneld(
      env,
      leasesOf,
      fl.leaseType,
      async (l) => {
        const snaps = await this.snapshots();
        // Settled when nothing the model plans is missing; cni0's MTU comes with the pods, after this.
        if (model) {
          const expected = this.modelFacts(model, l);
          return snaps.flatMap((s) => {
            const have = kernelFacts(s, podCidr, anyFlanneld);
            return [...(expected.get(s.node) ?? [])].filter((f) => !f.startsWith('mtu ') && !have.has(f)).map((f) => `${s.node}: no ${f}`);
          });
        }
        return snaps.flatMap((s) =>
          mode.owns.devices
            .filter((c) => !c.name.includes('*') && !s.links.some((x) => x.ifname === c.name && x.up))
            .map((c) => `${s.node}: no ${c.name} yet`),
        );
      },
      this.state.daemons.filter((d) => /^flanneld /.test(d.what)),
    );
    this.progress(
      `mode ${mode.name}: flanneld ${version} settled on ${leases.size} nodes in ${Math.round(performance.now() - started)} ms` +
        (kube ? '' : ` (${Math.round(performance.now() - t)} ms with etcd)`),
    );
    // A new backend means new pod MTUs: pods are re-created, as the rollout after the change would.
    await this.removePods();
    await this.addPods('flanneld', 0);
    const after = factsOf(await this.snapshots());
    const expected = model ? this.modelFacts(model, leases) : undefined;
    const mine = deviceMatcher(mode.owns.devices);
    const programs = (node: string, fact: string) => {
      if (expected) return expected.get(node)?.has(fact) ?? false;
      const d = factDevice(fact);
      return d === IF.cni0 || (d !== undefined && mine(d));
    };
    const left = before ? leftBehind(before, after, programs) : [];
    // Recorded above as a fact about flanneld; then removed (unless asked to keep them), so the wire
    // check judges what this backend programs, not what the last one left.
    if (left.length && !opts.keepDaemonLeftovers) {
      const ops = this.topology.nodes.flatMap((n) =>
        removeFactsOps(
          this.names.node(n),
          left.filter((l) => l.startsWith(`${n.name}: `)).map((l) => l.slice(n.name.length + 2)),
        ),
      );
      await applyPlan(ops, this.exec, { force: true });
    }
    this.state.daemonRun = {
      mode: mode.name,
      daemon: `flanneld ${version}`,
      facts: {
        leases: Object.fromEntries([...leases].map(([n, l]) => [n, l.subnet])),
        cni: process.env.CNILAB_FLANNEL_CNI
          ? `flannel CNI plugin ${process.env.CNILAB_FLANNEL_CNI} -> bridge + host-local`
          : `${fromDs?.cniConf ? `${fromDs.cniConf.from}: ` : ''}bridge + host-local from flanneld's subnet.env ` +
            "(the flannel CNI plugin's delegation, reproduced: its module is not served here)",
        ...(restarted ? { leftBehind: left } : {}),
        ...(kube && fromDs
          ? {
              kube: {
                apiserver: `kube-apiserver ${kube.version}`,
                daemonSet: fromDs.daemonSet,
                netConf: { from: fromDs.netConf.from, backend: fromDs.netConf.backend, patched: fromDs.netConf.patched },
                args: fromDs.args,
                added: fromDs.added,
                annotations: await flannelAnnotations(kube),
              },
            }
          : {}),
      },
      ...(model && expected
        ? {
            modelDiff: {
              model: model.name,
              compared: [...expected.values()].reduce((a, f) => a + f.size, 0),
              // The previous backend's leftovers are reported above, not held against this backend's model.
              differences: [...after].flatMap(([node, facts]) =>
                diffFacts(node, expected.get(node) ?? new Set(), new Set([...facts].filter((f) => !left.includes(`${node}: ${f}`)))),
              ),
            },
          }
        : {}),
    };
    this.save();
  }

  private snapshots() {
    return snapshotNodes(this.topology.nodes.map((n) => ({ name: n.name, exec: this.nodeExecutor(n.name) })));
  }

  /** cnilab's plan for `model`, fed flanneld's leases and VTEP MACs: the facts it puts in each node. */
  private modelFacts(model: ModeDef, leases: ReadonlyMap<string, Lease>): Map<string, Set<string>> {
    const plan = kernelProgram(model);
    const topology = withLeases(this.topology, leases);
    const vtepMacs = Object.fromEntries([...leases].flatMap(([n, l]) => (l.vtepMac ? [[n, l.vtepMac]] : [])));
    const ops = plan?.plan({ topology, names: this.names, pods: this.state.pods, settings: this.state.settings, vtepMacs }) ?? [];
    return new Map(topology.nodes.map((n) => [n.name, plannedFacts(ops, this.names.node(n), topology.podCidr)]));
  }

  /** What the real daemon did for the current mode, for its run's result. */
  daemonReport(): Pick<RunResult, 'daemon' | 'daemonFacts' | 'modelDiff'> | undefined {
    const d = this.state.daemonRun;
    if (!d || d.mode !== this.state.mode) return undefined;
    return { daemon: d.daemon, daemonFacts: d.facts, ...(d.modelDiff ? { modelDiff: d.modelDiff } : {}) };
  }

  /** Removes what flanneld programmed (its devices, its routes into the pod network): leaving for a mode of cnilab's own. */
  private async clearFlanneld(): Promise<void> {
    const owned = deviceMatcher(allModes().flatMap((m) => ('flanneld' in m.program ? m.owns.devices : [])));
    const snaps = await this.snapshots();
    const ops: KernelOp[] = snaps.flatMap((s) => {
      const netns = this.names.node(s.node);
      const devs = s.links.filter((l) => owned(l.ifname)).map((l) => l.ifname);
      return [
        ...devs.map((name): KernelOp => ({ kind: 'link-del', netns, name })),
        ...s.routes
          .filter(
            (r) => r.protocol !== 'kernel' && r.dev !== IF.cni0 && !devs.includes(r.dev ?? '') && routeIn(this.topology.podCidr, r.dst),
          )
          .map((r): KernelOp => ({ kind: 'route', netns, dst: r.dst, del: true })),
      ];
    });
    await applyPlan(ops, this.exec, { force: true });
    delete this.state.daemonRun;
    this.save();
  }

  /**
   * Switches atomically: the target must be able to run on this kernel before anything is removed;
   * if programming it fails, the lab rolls back to the previous mode and proves it with the
   * stale-state check, or is marked broken with what is wrong (status says so, down removes it).
   */
  async switchTo(next: ModeDef, opts: SwitchOptions = {}): Promise<void> {
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

  /**
   * Removes every trace of the current mode: its daemons, then its ops (forced when rolling back a
   * half-applied one). The lab's etcd stays. Between two flanneld modes, what flanneld programmed
   * stays too (a restart with a new backend is what users do; what survives it is recorded as a
   * fact about flanneld); before any other mode it is removed.
   */
  private async unprogram(force = false, next?: ModeDef): Promise<void> {
    const current = this.mode;
    if (current || force) {
      const t = performance.now();
      // Every BIRD and flanneld in the lab's namespaces, not only the recorded ones: a stray one would hold its port.
      const strays = pidsInNetns(this.state.netns.map(netnsPath)).filter((pid) => ['bird', 'flanneld'].includes(commOf(pid) ?? ''));
      // The lab's etcd and kube-apiserver (and its door) outlive modes.
      const keep = (d: LabState['daemons'][number]) => d.netns === this.state.datastore?.netns || d.netns === this.state.kube?.netns;
      await killAll([
        ...new Set([...strays, ...this.state.daemons.filter((d) => !keep(d) && processStartTime(d.pid) === d.startTime).map((d) => d.pid)]),
      ]);
      this.state.daemons = this.state.daemons.filter(keep);
      if (this.state.daemonRun && (force || !next || !('flanneld' in next.program))) await this.clearFlanneld();
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
    // What flanneld itself left from its previous backend is a fact about flanneld (the run's
    // daemon.leftBehind), not cnilab's stale state: the check leaves those devices to that record.
    const daemonLeft = this.daemonReport()?.daemonFacts?.leftBehind ?? [];
    const leftDevs = (node: string) =>
      daemonLeft.flatMap((l) => (l.startsWith(`${node}: `) ? [factDevice(l.slice(node.length + 2))] : [])).filter((d) => d !== undefined);
    return snaps.flatMap((s) =>
      findStale(s, {
        podCidr: this.topology.podCidr,
        mode: this.mode,
        modes,
        modeOps: this.state.modeOps,
        netns: this.names.node(s.node),
        recordedElsewhere: leftDevs(s.node),
      }),
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
    return labHealth(this.state);
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
      const t = performance.now();
      try {
        let r: Awaited<ReturnType<typeof teardownLab>>;
        try {
          r = await teardownLab(this.state);
        } catch (e) {
          if (!isCancelled()) throw e;
          await inFlightExited();
          r = await teardownLab(this.state);
        }
        this.timings.teardownMs = Math.round(performance.now() - t);
        // A witness that timed out is said: the time above then stops at the witness's limit, not at the kernel.
        const kernel =
          r.kernelDone === true ? ', the kernel done with them' : r.kernelDone === false ? ', the kernel not done after 10 s' : '';
        this.progress(`down: ${r.netns} namespaces, ${r.processes} processes in ${this.timings.teardownMs} ms${kernel}`);
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
