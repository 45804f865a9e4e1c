// The real calico-node's modes: the lab's kube-apiserver as Calico's Kubernetes datastore (Calico's
// CRDs from the module applied first, Nodes and probe Pods registered as a kubelet would), the
// IPPool's ipipMode/vxlanMode set as users set them, calico-node on every node (calico-node.ts), pods
// attached by the Calico CNI plugin with calico-ipam, then the kernel compared with cnilab's model
// fed Calico's own blocks, tunnel addresses and VTEP MACs, and what the previous pool mode left recorded.
import { readFileSync } from 'node:fs';
import { injectFault } from '../kernel/fault.ts';
import {
  applyRouteReflector,
  blockAffinities,
  type CalicoNodeInfo,
  calicoNodeInfo,
  patchPoolModes,
  readPool,
  registerPods,
} from '../kube/calico.ts';
import { kubeApi, type KubeApi } from '../kube/client.ts';
import { birdKernelRoutes } from '../modes/bird-config.ts';
import { BIRD_ROUTES, FELIX_ROUTES } from '../modes/calico-common.ts';
import { type CalicoNodeProgram, calicoBird, calicoNodeProgram, kernelProgram, type ModeDef, podMtuOf } from '../modes/mode.ts';
import { allModes, findMode } from '../modes/registry.ts';
import { deviceMatcher } from '../modes/stale.ts';
import { formatIpv4, parseCidr } from '../net/ipv4.ts';
import type { NodeKernelState } from '../plan/kernel-state.ts';
import { kernelFacts, plannedFacts } from '../plan/model-diff.ts';
import type { KernelOp } from '../plan/ops.ts';
import { planCalicoPods } from '../plan/pods.ts';
import type { Topology } from '../topology/types.ts';
import type { KubeState } from './apiserver.ts';
import {
  type CalicoBinaries,
  calicoBinaries,
  ensureCalicoCrds,
  allocateTunnelAddrs,
  felixMtuFile,
  felixRestarts,
  startCalicoNode,
} from './calico-node.ts';
import { TimeoutError } from '../errors.ts';
import { routerEstablished, startRouterBird } from './bird.ts';
import { type CalicoLaunchPlan, labLaunch, manifestLaunch } from './calico-launch.ts';
import { isRunningDaemon, waitReady } from './daemon.ts';
import { leftBehind } from './flanneld.ts';
import { calicoProgrammed } from './calico-programmed.ts';
import { clearDaemonKernelState, type Facts, modelDiffOf, removeLeftovers } from './model-check.ts';
import { calicoPodName } from './pods.ts';
import type { Programmer, SwitchOptions } from './programmer.ts';
import { ensureDatastore, ensureKube } from './services.ts';
import type { ProgramTarget } from './target.ts';

/** How long a switched mode gets to settle before what the previous one left is taken for leftovers. */
const LEFTOVER_GRACE_MS = 15_000;

/** The probe Pods' namespace in the lab's API server. */
export const PROBE_NAMESPACE = 'cnilab-probes';

/** The devices any calico-node mode makes (vxlan.calico): what felix's kernel state is found by. */
const calicoDevices = () => deviceMatcher(allModes().flatMap((m) => (calicoNodeProgram(m) ? m.owns.devices : [])));
/** The host side of the Calico CNI plugin's veths (cni-plugin/pkg/dataplane/linux: "cali" + a hash of the pod). */
const podVeths = (ifname: string) => ifname.startsWith('cali');

/** Routes are told apart by who wrote them: felix (proto 80) or BIRD; a BIRD route where felix's belongs is a difference. */
const PROTOCOLS: ReadonlySet<string> = new Set([FELIX_ROUTES.proto, BIRD_ROUTES.proto]);

const factsOf = (t: ProgramTarget, snaps: readonly NodeKernelState[]): Facts =>
  new Map(snaps.map((s) => [s.node, kernelFacts(s, t.env.topology.podCidr, calicoDevices(), { podVeths, protocols: PROTOCOLS })]));

/** What Calico chose, read back from the API: each node's blocks (calico-ipam) and what calico-node wrote on its Node. */
interface CalicoChoices {
  blocks: Map<string, string[]>;
  nodes: Map<string, CalicoNodeInfo>;
}

const choicesOf = async (api: KubeApi): Promise<CalicoChoices> => {
  const [blocks, nodes] = await Promise.all([blockAffinities(api), calicoNodeInfo(api)]);
  return { blocks, nodes };
};

/** The topology with Calico's blocks in place of its own per-node blocks (the model's input); a node's first block. */
function withBlocks(t: Topology, blocks: ReadonlyMap<string, readonly string[]>): Topology {
  return {
    ...t,
    nodes: t.nodes.map((n) => {
      const c = parseCidr(blocks.get(n.name)?.[0] ?? '');
      return typeof c === 'string' ? n : { ...n, podBlock: c };
    }),
  };
}

/** cnilab's plan for `model`, fed Calico's blocks, tunnel addresses, VTEP MACs and the pods the plugin made: its facts per node. */
function modelFacts(t: ProgramTarget, model: ModeDef, c: CalicoChoices): Facts {
  const topology = withBlocks(t.env.topology, c.blocks);
  const pick = (f: (i: CalicoNodeInfo) => string | undefined) =>
    Object.fromEntries([...c.nodes].flatMap(([n, i]) => (f(i) ? [[n, f(i)!]] : [])));
  const ctx = {
    topology,
    names: t.env.names,
    pods: t.state.pods,
    settings: t.env.settings,
    vtepMacs: pick((i) => i.vxlanMac),
    tunnelAddrs: pick((i) => i.vxlanTunnelAddr ?? i.ipipTunnelAddr),
  };
  const program = kernelProgram(model);
  // A config's own veth_mtu is what the pods get (the CNI config's mtu); else the mode's from the underlay.
  const mtu = podMtuOf(model, t.env.topology, t.env.settings);
  const bird = program?.bird;
  // A block's blackhole is BIRD's where BIRD runs (bird_aggr.cfg's static protocol), else felix's
  // (vxlan_mgr.go blackholeRoutes, proto 80).
  const blackholeBy = bird ? BIRD_ROUTES.proto : FELIX_ROUTES.proto;
  // v3.28 writes IPIP block routes from BIRD (confd's bird_ipam.cfg.template: krt_tunnel), where the
  // model has felix write them as v3.31 does (ProgramClusterRoutes): the same route, BIRD's protocol.
  const ipipByBird = (o: KernelOp): KernelOp =>
    o.kind === 'route' && o.dev === 'tunl0' && o.proto === FELIX_ROUTES.proto ? { ...o, proto: BIRD_ROUTES.proto } : o;
  const ops: KernelOp[] = [
    ...(program?.plan(ctx) ?? []).map(ipipByBird),
    ...planCalicoPods(topology, t.env.names, t.state.pods, mtu).map((o) =>
      o.kind === 'route' && o.type === 'blackhole' ? { ...o, proto: blackholeBy } : o,
    ),
  ];
  return new Map(
    topology.nodes.map((n) => {
      const netns = t.env.names.node(n);
      const mine = [...ops, ...(bird ? birdKernelRoutes(topology, n, bird, netns) : [])];
      return [n.name, plannedFacts(mine, netns, topology.podCidr, { protocols: PROTOCOLS })];
    }),
  );
}

/** What the model plans that the kernel does not hold yet (the kernel's extras are judged once it settled). */
async function pendingFacts(t: ProgramTarget, model: ModeDef, api: KubeApi): Promise<string[]> {
  const [snaps, choices] = await Promise.all([t.snapshots(), choicesOf(api)]);
  const expected = modelFacts(t, model, choices);
  const have = factsOf(t, snaps);
  return [...expected].flatMap(([node, facts]) => [...facts].filter((f) => !have.get(node)?.has(f)).map((f) => `${node}: no ${f}`));
}

/** Sets the pool's encapsulation when it exists (a switch); -startup makes it from CALICO_IPV4POOL_* the first time. */
async function setPool(api: KubeApi, prog: CalicoNodeProgram): Promise<boolean> {
  const pool = await readPool(api);
  if (!pool) return false;
  if (pool.spec?.ipipMode === prog.pool.ipipMode && pool.spec?.vxlanMode === prog.pool.vxlanMode) return false;
  await patchPoolModes(api, prog.pool);
  return true;
}

/** The pod MTU felix wrote for each node (/var/lib/calico/mtu), as install-cni reads it when the manifest's veth_mtu is 0. */
async function felixMtus(t: ProgramTarget): Promise<Record<string, number>> {
  const felix = t.state.daemons.filter((d) => /^calico-node felix /.test(d.what));
  return waitReady('felix to write /var/lib/calico/mtu on every node', { timeoutMs: 60_000, daemons: felix }, async () => {
    const out: Record<string, number> = {};
    for (const n of t.env.topology.nodes) {
      let v = Number.NaN;
      try {
        v = Number(readFileSync(felixMtuFile(t.env, n.name), 'utf8').trim());
      } catch {
        return undefined;
      }
      if (!Number.isInteger(v) || v <= 0) return undefined;
      out[n.name] = v;
    }
    return out;
  });
}

/** The daemons of one calico-node mode serve another: the same networking backend, and the same BIRD (1.6, or 2 for IPIP). */
const sameDaemons = (a: CalicoNodeProgram | undefined, b: CalicoNodeProgram | undefined) =>
  a !== undefined && b !== undefined && a.backend === b.backend && calicoBird(a) === calicoBird(b);

/** calico-node of the mode before still runs on every node and fits this mode: a pool patch is all it takes. */
function liveFor(t: ProgramTarget, prog: CalicoNodeProgram): boolean {
  const before = t.state.daemonRun ? findMode(t.state.daemonRun.mode) : undefined;
  const felix = t.state.daemons.filter((d) => /^calico-node felix /.test(d.what) && isRunningDaemon(d));
  return before !== undefined && sameDaemons(calicoNodeProgram(before), prog) && felix.length === t.env.topology.nodes.length;
}

/** How the mode came to be: calico-node started for it, or the running one following a pool patch. */
type Started = {
  kube: KubeState;
  api: KubeApi;
  bins: CalicoBinaries;
  version: string;
  launch: CalicoLaunchPlan;
  /** The route reflector's objects and the router's BIRD, with the topology's router.bgpPeer. */
  bgp: string[];
  daemons: string[];
  live: boolean;
};

/**
 * With the topology's router as a BGP peer (router.bgpPeer), the BIRD backend peers with it as
 * Calico users peer with a top-of-rack route reflector: mesh off, a BGPPeer per subnet (written
 * before confd renders), and the router's own BIRD (cnilab's part of the network) started.
 */
async function routeReflector(t: ProgramTarget, api: KubeApi, prog: CalicoNodeProgram): Promise<string[]> {
  const topology = t.env.topology;
  if (prog.backend !== 'bird' || !topology.router?.bgpPeer) return [];
  const subnets = topology.subnets.map((s) => ({ name: s.name, routerIp: formatIpv4(s.routerIp!) }));
  const wrote = await applyRouteReflector(api, t.env.settings.calico.asn, subnets);
  const running = t.state.daemons.some((d) => d.netns === t.env.names.router() && /^bird /.test(d.what) && isRunningDaemon(d));
  if (!running) await startRouterBird(t.env, (d) => t.record(d));
  return [...wrote, `the router ${topology.router.name}'s BIRD (Debian's bird2) as the route reflector: cnilab's, not Calico's`];
}

/** The router has learned every node's blocks from the route reflection (pods across subnets go through it). */
async function routerLearned(t: ProgramTarget, blocks: ReadonlyMap<string, readonly string[]>): Promise<void> {
  await routerEstablished(t.env, 60_000);
  const exec = t.env.exec(t.env.names.router());
  const want = [...blocks.values()].flat();
  let missing: string[] = [];
  const daemons = t.state.daemons.filter((d) => d.netns === t.env.names.router());
  const seen = () => `no route for ${missing.join(', ')}`;
  await waitReady('the router to learn every block', { timeoutMs: 30_000, daemons, seen }, async () => {
    const r = await exec.run(['ip', '-json', 'route', 'show', 'proto', 'bird'], { op: 'router routes' });
    const have = new Set((JSON.parse(r.stdout) as { dst: string }[]).map((x) => x.dst));
    missing = want.filter((b) => !have.has(b));
    return missing.length === 0 ? true : undefined;
  });
}

async function startOnNodes(t: ProgramTarget, mode: ModeDef, prog: CalicoNodeProgram): Promise<Started> {
  const bins = await calicoBinaries(prog);
  const live = liveFor(t, prog);
  const ds = await ensureDatastore(t);
  const kube = await ensureKube(t, ds);
  const api = kubeApi(kube.kubeconfig);
  await ensureCalicoCrds(api, kube, t.progress);
  t.save();
  const bgp = await routeReflector(t, api, prog);
  const pool = async () => {
    if (await setPool(api, prog))
      t.progress(
        `mode ${mode.name}: IPPool default-ipv4-ippool patched to ipipMode ${prog.pool.ipipMode}, vxlanMode ${prog.pool.vxlanMode}`,
      );
  };
  await registerPods(
    api,
    PROBE_NAMESPACE,
    t.env.topology.nodes.flatMap((n) => n.pods.map((p) => ({ name: calicoPodName({ node: n.name, name: p.name }), node: n.name }))),
  );
  // A manifest's lab runs its DaemonSet's calico-node; any other lab cnilab's own environment.
  const launch = t.state.manifest ? await manifestLaunch(t.env, kube, api, prog, t.progress) : labLaunch(t.env, kube, prog);
  const base = { kube, api, bins, version: bins.node.version, launch, bgp };
  if (live) {
    // The running calico-node follows the patch: felix by itself (it exits for an encapsulation
    // change and is started again), the tunnel addresses by -allocate-tunnel-addrs.
    await pool();
    await allocateTunnelAddrs(t.env, launch, bins);
    return { ...base, daemons: t.state.daemonRun?.facts.calico?.daemons ?? [], live };
  }
  // The pool is set between -startup (which makes it from CALICO_IPV4POOL_* the first time) and felix.
  const run = await startCalicoNode(t.env, launch, bins, (d) => t.record(d), pool);
  return { ...base, ...run, live };
}

/** The pods, through the Calico CNI plugin with calico-ipam: at the config's MTU, else felix's (what the plugin reads at 0). */
async function attachPods(t: ProgramTarget, started: Started): Promise<Record<string, number>> {
  const felix = await felixMtus(t);
  const cni = started.bins.cni;
  const launch = started.launch;
  // The config's own MTU, else felix's file (what the plugin reads when the config says 0).
  const mtus = launch.cni.mtu ? Object.fromEntries(Object.keys(felix).map((n) => [n, launch.cni.mtu])) : felix;
  await t.setPods('calico-node', {
    mtu: 0,
    cni: {
      kind: 'calico',
      plugin: cni.path,
      conflist: launch.cni.conflist,
      namespace: PROBE_NAMESPACE,
      mtus,
      kubeconfigs: launch.cni.kubeconfigs,
    },
  });
  return mtus;
}

/**
 * Waits until every node holds what the model plans. After a switch, what the previous pool mode
 * left can stand in the way of this one (felix's CrossSubnet routes, proto 80, keep BIRD from
 * writing its own for the same blocks): once this mode had its time, what was there before, is
 * there still and is not planned is recorded as a fact about Calico and removed (unless kept);
 * then it must settle. Returns what was left behind, after a switch.
 */
async function settle(
  t: ProgramTarget,
  model: ModeDef,
  started: Started,
  before: Facts | undefined,
  opts: SwitchOptions,
): Promise<string[] | undefined> {
  const daemons = t.state.daemons.filter((d) => /^(calico-node|bird) /.test(d.what));
  let pending: string[] = [];
  const settled = (timeoutMs: number) =>
    waitReady(
      `calico-node to program every node as ${model.name} plans`,
      { timeoutMs, daemons, seen: () => pending.slice(0, 4).join('; ') },
      async () => {
        pending = await pendingFacts(t, model, started.api);
        return pending.length === 0 ? true : undefined;
      },
    );
  let left: string[] | undefined;
  if (before) {
    await settled(LEFTOVER_GRACE_MS).catch((e: unknown) => {
      if (!(e instanceof TimeoutError)) throw e;
    });
    const now = factsOf(t, await t.snapshots());
    const planned = modelFacts(t, model, await choicesOf(started.api));
    left = leftBehind(before, now, (node, f) => planned.get(node)?.has(f) ?? false);
    if (left.length && !opts.keepDaemonLeftovers) await removeLeftovers(t, left);
  }
  if (!before || !opts.keepDaemonLeftovers) await settled(60_000);
  return left;
}

/** What calico-node did, for the run's result: its choices, what it programmed, and the model against it. */
async function daemonRun(
  t: ProgramTarget,
  mode: ModeDef,
  model: ModeDef,
  started: Started,
  { mtus, left }: { mtus: Record<string, number>; left: string[] | undefined },
): Promise<NonNullable<ProgramTarget['state']['daemonRun']>> {
  const cni = started.bins.cni;
  const launch = started.launch;
  const choices = await choicesOf(started.api);
  if (started.bgp.length) await routerLearned(t, choices.blocks);
  const snaps = await t.snapshots();
  const after = factsOf(t, snaps);
  const expected = modelFacts(t, model, choices);
  const pool = await readPool(started.api);
  const spec = (pool?.spec ?? {}) as Record<string, unknown>;
  return {
    mode: mode.name,
    daemon: `calico-node ${started.version}`,
    facts: {
      leases: Object.fromEntries([...choices.blocks].map(([n, b]) => [n, b.join(',')])),
      cni:
        `Calico CNI plugin ${cni.version} with calico-ipam (${cni.path}), ` +
        `chain ${launch.cni.conflist.plugins.map((p) => p.type).join(' -> ')} from ${launch.cni.from}`,
      ...(left ? { leftBehind: left } : {}),
      programmed: calicoProgrammed({ snaps, pool: spec, blocks: choices.blocks, podVeth: podVeths }),
      calico: {
        apiserver: `kube-apiserver ${started.kube.version}`,
        pool: { name: pool?.metadata?.name, ...spec },
        nodes: Object.fromEntries(
          t.env.topology.nodes.map((n) => [
            n.name,
            {
              ...(choices.nodes.get(n.name) as Record<string, string> | undefined),
              blocks: (choices.blocks.get(n.name) ?? []).join(','),
            },
          ]),
        ),
        source: launch.source,
        env: launch.environment,
        ...(launch.added.length ? { added: launch.added } : {}),
        ...(launch.notRun.length ? { notRun: launch.notRun } : {}),
        ...(started.bgp.length ? { bgp: started.bgp } : {}),
        daemons: started.daemons,
        switched: started.live ? 'IPPool patched; calico-node kept running' : 'calico-node started',
        felixRestarts: Object.fromEntries(t.env.topology.nodes.map((n) => [n.name, felixRestarts(t.env, n.name)])),
        podMtu: mtus,
      },
    },
    modelDiff: modelDiffOf(model, expected, after, left),
  };
}

export function realCalicoProgrammer(prog: CalicoNodeProgram): Programmer {
  return {
    kind: 'real-calico',
    async program(t: ProgramTarget, mode: ModeDef, opts: SwitchOptions) {
      const t0 = performance.now();
      // What the previous pool mode left in the kernel, to tell its leftovers from what this one programs.
      const before = t.state.daemonRun ? factsOf(t, await t.snapshots()) : undefined;
      t.state.mode = mode.name;
      t.state.modeOps = [];
      t.save();
      const started = await startOnNodes(t, mode, prog);
      await injectFault(`program:${mode.name}`);
      const mtus = await attachPods(t, started);
      const model = prog.model;
      const left = await settle(t, model, started, before, opts);
      t.progress(
        `mode ${mode.name}: calico-node ${started.version} settled on ${t.env.topology.nodes.length} nodes ` +
          `in ${Math.round(performance.now() - t0)} ms`,
      );
      t.state.daemonRun = await daemonRun(t, mode, model, started, { mtus, left });
      t.save();
    },
    // A pool patch is all it takes while the same daemons fit: the same backend, and the same BIRD (1.6, or 2 for IPIP).
    keepsDaemons: (from, to) => sameDaemons(calicoNodeProgram(from), calicoNodeProgram(to)),
    /**
     * Removes what calico-node programmed, leaving for a mode of another kind: its devices, its
     * routes into the pod network and blackholes, felix's iptables rules (nftables, as
     * FELIX_IPTABLESBACKEND=nft wrote them) and ipsets. A failure here is the switch's failure.
     */
    async clear(t: ProgramTarget) {
      await clearDaemonKernelState(t, calicoDevices());
      await Promise.all(
        t.env.topology.nodes.map(async (n) => {
          const exec = t.env.exec(t.env.names.node(n));
          // The rules first: an ipset still referenced by a rule cannot be destroyed.
          await exec.run(['nft', 'flush', 'ruleset'], { op: 'clear felix rules' });
          await exec.run(['ipset', 'destroy'], { op: 'clear felix ipsets' });
        }),
      );
      delete t.state.daemonRun;
      t.save();
    },
  };
}
