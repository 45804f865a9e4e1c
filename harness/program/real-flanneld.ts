// The real flanneld's modes: net-conf.json into the lab's etcd (or, for a manifest's lab, its
// ConfigMap on the lab's kube-apiserver), flanneld restarted on every node (a backend change is a
// restart, as with the DaemonSet), pods re-attached from the leases it wrote, then its kernel state
// compared with cnilab's model for the same leases, and what the previous backend left recorded.
import { readFileSync } from 'node:fs';
import { injectFault } from '../kernel/fault.ts';
import { type FlanneldProgram, flanneldProgram, kernelProgram, type ModeDef } from '../modes/mode.ts';
import { allModes } from '../modes/registry.ts';
import { deviceMatcher } from '../modes/stale.ts';
import { IF } from '../plan/names.ts';
import type { NodeKernelState } from '../plan/kernel-state.ts';
import { factDevice, kernelFacts, plannedFacts } from '../plan/model-diff.ts';
import { cniConfList, flannelPluginConf, KUBE_FLANNEL_CONFLIST } from '../plan/pods.ts';
import type { Topology } from '../topology/types.ts';
import { flannelCniBinary } from '../host/daemons.ts';
import { DaemonExitedError, LabError, UsageError } from '../errors.ts';
import { isRunningDaemon } from './daemon.ts';
import type { Programmed } from '../results/schema.ts';
import {
  type FlanneldEnv,
  type Lease,
  LEASE_RACE,
  leftBehind,
  readLeases,
  readSubnetEnv,
  startFlanneld,
  subnetFile,
  waitFlanneld,
  withLeases,
} from './flanneld.ts';
import { type DaemonSetRun, flannelAnnotations, readKubeLeases, startFlanneldFromDaemonSet } from './kube-flannel.ts';
import { flanneldProgrammed, udpListenPorts } from './flanneld-programmed.ts';
import { clearDaemonKernelState, type Facts, modelDiffOf, removeLeftovers } from './model-check.ts';
import type { PodSource } from './pods.ts';
import type { Programmer, SwitchOptions } from './programmer.ts';
import { ensureDatastore, ensureKube } from './services.ts';
import type { DaemonRun, ProgramTarget } from './target.ts';

/** The devices any real-flanneld mode makes (flannel.1, flannel0): what flanneld's kernel state is found by. */
const flanneldDevices = () => deviceMatcher(allModes().flatMap((m) => (flanneldProgram(m) ? m.owns.devices : [])));

const envOf = (t: ProgramTarget): FlanneldEnv => ({
  ...t.env,
  ...(t.state.kube?.subnetFiles ? { subnetFiles: t.state.kube.subnetFiles } : {}),
});

const factsOf = (t: ProgramTarget, snaps: readonly NodeKernelState[]): Facts =>
  new Map(snaps.map((s) => [s.node, kernelFacts(s, t.env.topology.podCidr, flanneldDevices())]));

/** cnilab's plan for `model`, fed flanneld's leases and VTEP MACs: the facts it puts in each node. */
function modelFacts(t: ProgramTarget, model: ModeDef, leases: ReadonlyMap<string, Lease>): Facts {
  const topology = withLeases(t.env.topology, leases);
  const vtepMacs = Object.fromEntries([...leases].flatMap(([n, l]) => (l.vtepMac ? [[n, l.vtepMac]] : [])));
  const ops = kernelProgram(model)?.plan({ topology, names: t.env.names, pods: t.state.pods, settings: t.env.settings, vtepMacs }) ?? [];
  return new Map(topology.nodes.map((n) => [n.name, plannedFacts(ops, t.env.names.node(n), topology.podCidr)]));
}

const readIfThere = (path: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};

/** flanneld's settings as the nodes show them (flanneld-programmed.ts); udp's port from the sockets it listens on. */
async function programmedOf(t: ProgramTarget, snaps: readonly NodeKernelState[], leases: ReadonlyMap<string, Lease>): Promise<Programmed> {
  const env = envOf(t);
  // The node's sockets, read from here through its flanneld's /proc entry (the same network
  // namespace): no command per node. A daemon gone meanwhile shows no port, which the check says.
  const udp = snaps.filter((s) => s.links.some((l) => l.ifname === 'flannel0'));
  const pidOf = (node: string) => t.state.daemons.find((d) => d.what === `flanneld ${node}`)?.pid;
  const udpPorts = new Map(
    udp.map((s) => {
      const pid = pidOf(s.node);
      const text = pid === undefined ? '' : readIfThere(`/proc/${pid}/net/udp`);
      return [s.node, udpListenPorts(text)] as const;
    }),
  );
  return flanneldProgrammed({
    topology: t.env.topology,
    snaps,
    leases,
    subnetEnvs: new Map(t.env.topology.nodes.map((n) => [n.name, readSubnetEnv(env, n.name)])),
    udpPorts,
  });
}

/** How the pods were attached, for the run's facts and the terminal: the plugin and its chain, or the reproduction and why. */
type PodAttach = { source: PodSource; said: string };

/**
 * Pods from the lease flanneld wrote (its subnet.env), attached by the real flannel CNI plugin
 * through the CNI config a runtime would read: the manifest's cni-conf.json as its init container
 * installed it, else kube-flannel.yml's own (flannel, then portmap). Where the plugin is not built
 * (no Go), its delegation to bridge + host-local is reproduced (plan/pods.ts, citing its
 * flannel_linux.go), and the facts say so.
 */
async function flanneldPods(t: ProgramTarget): Promise<PodAttach> {
  const env = envOf(t);
  const installed = t.state.kube?.cniConf;
  const list = installed ? cniConfList(installed.content) : KUBE_FLANNEL_CONFLIST;
  if (typeof list === 'string') throw new UsageError(`${installed!.from}: ${list}`, 'give the CNI config the flannel plugin reads');
  const podMtu = t.env.settings.podMtu;
  const from = installed ? `${installed.from}` : "kube-flannel.yml's cni-conf.json";
  const chainText = list.plugins.map((p) => p.type).join(' -> ');
  const plugin = await flannelCniBinary();
  const lease = (node: Topology['nodes'][number]) => {
    const s = readSubnetEnv(env, node.name);
    if (!s) throw new LabError(`flanneld wrote no subnet.env for ${node.name} (${subnetFile(env, node.name)})`);
    // A cni-conf.json delegate mtu wins over subnet.env's (flannel-io/cni-plugin flannel_linux.go doCmdAdd).
    return podMtu ? { ...s, mtu: podMtu } : s;
  };
  if (!plugin.ok) {
    const conf = flannelPluginConf(installed?.content ?? JSON.stringify(list));
    return {
      source: { mtu: 0, lease, ...(typeof conf === 'string' ? {} : { flannelConf: conf }) },
      said: `${from}: bridge + host-local from flanneld's subnet.env, the flannel CNI plugin's delegation reproduced (${plugin.detail})`,
    };
  }
  return {
    source: {
      mtu: 0,
      lease,
      cni: {
        kind: 'flannel',
        plugin: plugin.path,
        conflist: list,
        subnetFiles: Object.fromEntries(t.env.topology.nodes.map((n) => [n.name, subnetFile(env, n.name)])),
        ...(podMtu ? { mtu: podMtu } : {}),
      },
    },
    said: `flannel CNI plugin ${plugin.version} (${plugin.path}), chain ${chainText} from ${from}`,
  };
}

/** flanneld on every node, from etcd or from the manifest's DaemonSet; its version and, for the latter, what was read. */
async function startOnNodes(t: ProgramTarget, mode: ModeDef, fl: FlanneldProgram) {
  const ds = await ensureDatastore(t);
  const kube = t.state.manifest ? await ensureKube(t, ds) : undefined;
  if (!kube) {
    const { version } = await startFlanneld(envOf(t), ds, fl.backend(t.env.settings), (d) => t.record(d));
    const restart = (nodes: readonly string[]) => startFlanneld(envOf(t), ds, fl.backend(t.env.settings), (d) => t.record(d), nodes);
    return { version, leasesOf: () => readLeases(envOf(t), ds), restart };
  }
  const fromDs = await startFlanneldFromDaemonSet(envOf(t), kube, { config: mode.config, backend: fl.backend(t.env.settings) }, (d) =>
    t.record(d),
  );
  kube.subnetFiles = fromDs.subnetFiles;
  kube.cniConf = fromDs.cniConf;
  t.save();
  if (fromDs.netConf.patched)
    t.progress(`mode ${mode.name}: ${fromDs.netConf.from} patched to Backend ${JSON.stringify(fromDs.netConf.backend)}`);
  return { version: fromDs.version, leasesOf: () => readKubeLeases(kube), fromDs };
}

/** What is still missing on the nodes: the model's facts (when there is a model), else the mode's devices. */
async function pendingFacts(t: ProgramTarget, mode: ModeDef, model: ModeDef | undefined, leases: ReadonlyMap<string, Lease>) {
  const snaps = await t.snapshots();
  if (model) {
    const expected = modelFacts(t, model, leases);
    // Settled when nothing the model plans is missing; cni0's MTU comes with the pods, after this.
    return snaps.flatMap((s) => {
      const have = kernelFacts(s, t.env.topology.podCidr, flanneldDevices());
      return [...(expected.get(s.node) ?? [])].filter((f) => !f.startsWith('mtu ') && !have.has(f)).map((f) => `${s.node}: no ${f}`);
    });
  }
  return snaps.flatMap((s) =>
    mode.owns.devices
      .filter((c) => !c.name.includes('*') && !s.links.some((x) => x.ifname === c.name && x.up))
      .map((c) => `${s.node}: no ${c.name} yet`),
  );
}

async function daemonRunOf(
  t: ProgramTarget,
  mode: ModeDef,
  run: {
    version: string;
    leases: ReadonlyMap<string, Lease>;
    cni: string;
    fromDs?: DaemonSetRun;
    left?: string[];
    after: Facts;
    programmed: Programmed;
    expected?: Facts;
  },
  model: ModeDef | undefined,
): Promise<DaemonRun> {
  const kube = t.state.kube;
  const { fromDs, left, after, expected } = run;
  return {
    mode: mode.name,
    daemon: `flanneld ${run.version}`,
    facts: {
      leases: Object.fromEntries([...run.leases].map(([n, l]) => [n, l.subnet])),
      cni: run.cni,
      programmed: run.programmed,
      ...(left ? { leftBehind: left } : {}),
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
    ...(model && expected ? { modelDiff: modelDiffOf(model, expected, after, left) } : {}),
  };
}

/**
 * The lab's flanneld records, exited ones included: waiting on them notices an exit at once, with
 * its log (a lease race's exited flanneld has its record removed when it is started again).
 */
const flanneldRecords = (t: ProgramTarget) => t.state.daemons.filter((d) => /^flanneld /.test(d.what));

/** Restarts after flanneld's lease race (LEASE_RACE) a lab allows, as a kubelet's restarts of its pod. */
const LEASE_RACE_RESTARTS = 2;

/**
 * The leases once every flanneld settled. A flanneld that lost the lease race exits; it is started
 * again on its node, as its DaemonSet's kubelet would, and the progress line says so. Any other
 * exit fails the switch with its log.
 */
export async function settledLeases(
  t: ProgramTarget,
  started: { restart?: (nodes: readonly string[]) => Promise<unknown> },
  wait: (settled: (l: Map<string, Lease>) => Promise<string[]>) => Promise<Map<string, Lease>>,
  settled: (l: Map<string, Lease>) => Promise<string[]>,
): Promise<Map<string, Lease>> {
  for (let restarts = 0; ; restarts++) {
    try {
      return await wait(settled);
    } catch (e) {
      const race = e instanceof DaemonExitedError && e.tails.every((tail) => LEASE_RACE.test(tail));
      if (!race || !started.restart || restarts >= LEASE_RACE_RESTARTS) throw e;
      const nodes = e.daemons.map((d) => d.replace(/^flanneld /, ''));
      // The exited flanneld's record goes: nothing of it is left to stop, and status would call the lab degraded.
      const exited = e.daemons;
      t.state.daemons = t.state.daemons.filter((d) => !(exited.includes(d.what) && !isRunningDaemon(d)));
      t.save();
      t.progress(`flanneld on ${nodes.join(', ')} lost flannel's lease race (subnet already exists) and exited; started again`);
      await started.restart(nodes);
    }
  }
}

export function realFlanneldProgrammer(fl: FlanneldProgram): Programmer {
  return {
    kind: 'real-flanneld',
    async program(t: ProgramTarget, mode: ModeDef, opts: SwitchOptions) {
      const t0 = performance.now();
      // What the previous flanneld left in the kernel, to tell its leftovers from what this backend programs.
      const restarted = t.state.daemonRun !== undefined;
      const before = restarted ? factsOf(t, await t.snapshots()) : undefined;
      t.state.mode = mode.name;
      t.state.modeOps = [];
      t.save();
      const started = await startOnNodes(t, mode, fl);
      await injectFault(`program:${mode.name}`);
      // Settling counts from here: the API server's start and the manifest's apply are said apart.
      const t1 = performance.now();
      const model = fl.model;
      const leases = await settledLeases(
        t,
        started,
        (l) => waitFlanneld(envOf(t), started.leasesOf, fl.leaseType, l, flanneldRecords(t)),
        (l) => pendingFacts(t, mode, model, l),
      );
      t.progress(
        `mode ${mode.name}: flanneld ${started.version} settled on ${leases.size} nodes in ${Math.round(performance.now() - t1)} ms` +
          (started.fromDs ? '' : ` (${Math.round(performance.now() - t0)} ms with etcd)`),
      );
      // A new backend means new pod MTUs: pods are re-created, as the rollout after the change would.
      const pods = await flanneldPods(t);
      await t.setPods('flanneld', pods.source);
      const snaps = await t.snapshots();
      const after = factsOf(t, snaps);
      const expected = model ? modelFacts(t, model, leases) : undefined;
      const mine = deviceMatcher(mode.owns.devices);
      const programs = (node: string, fact: string) => {
        if (expected) return expected.get(node)?.has(fact) ?? false;
        const d = factDevice(fact);
        return d === IF.cni0 || (d !== undefined && mine(d));
      };
      const left = before ? leftBehind(before, after, programs) : undefined;
      // Recorded as a fact about flanneld; then removed (unless asked to keep them).
      if (left?.length && !opts.keepDaemonLeftovers) await removeLeftovers(t, left);
      t.state.daemonRun = await daemonRunOf(
        t,
        mode,
        {
          version: started.version,
          leases,
          after,
          programmed: await programmedOf(t, snaps, leases),
          cni: pods.said,
          ...(started.fromDs ? { fromDs: started.fromDs } : {}),
          ...(left ? { left } : {}),
          ...(expected ? { expected } : {}),
        },
        model,
      );
      t.save();
    },
    /** Removes what flanneld programmed (its devices, its routes into the pod network): leaving for a mode of another kind. */
    async clear(t: ProgramTarget) {
      // cni0 stays: the pods are the lab's, removed with their family.
      await clearDaemonKernelState(t, flanneldDevices(), [IF.cni0]);
      delete t.state.daemonRun;
      t.save();
    },
  };
}
