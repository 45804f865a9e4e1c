// Pod families: how pods are attached depends on the CNI. Switching within a family keeps pods,
// switching across families rebuilds them. flannel-style pods come from the real CNI plugins
// (flannel's CNI plugin delegates to bridge + host-local with the node's lease); Calico-style pods
// are planned (plan/pods.ts) and applied.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import type { ExecutorOf } from '../node/executor.ts';
import { applyPlan } from '../node/apply.ts';
import { IF, type LabNames } from '../plan/names.ts';
import { undoOps, type KernelOp } from '../plan/ops.ts';
import {
  calicoPods,
  type FlannelLease,
  flannelBridgeConfig,
  type FlannelPluginConf,
  cniChain,
  calicoChain,
  type CniConfList,
  planCalicoPods,
  type Family,
  type PodRuntime,
} from '../plan/pods.ts';
import type { Topology } from '../topology/types.ts';
import { cniBinDir, type CniCall, cniCalls, type CniResult } from '../node/cni.ts';
import { errorLine, KernelError, LabError, TimeoutError, UsageError } from '../errors.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { isCancelled } from '../kernel/exec.ts';

export interface PodSetup {
  pods: PodRuntime[];
  /** Planned ops (Calico); empty for pods made by CNI plugins. */
  ops: KernelOp[];
  /** What attaching them took beyond one ADD each (a retried ADD, with the error that made it retry). */
  retried?: string[];
}

/**
 * How many times a pod's CNI ADD is tried: a kubelet whose sandbox setup failed tears the network
 * down (CNI DEL) and tries again on its next sync, with backoff (pkg/kubelet/kuberuntime
 * SyncPod). A busy node (a guest under emulation, the API server slow to shake hands) needs it.
 */
const ADD_ATTEMPTS = 3;

/**
 * The real flannel CNI plugin and the chain it runs in, as plain data: the lab keeps it in its state
 * so that a later process (`cnilab switch`) deletes the pods through the same chain.
 */
export interface FlannelCni {
  kind: 'flannel';
  plugin: string;
  conflist: CniConfList;
  /** The subnet.env flanneld writes, by node: what the plugin reads. */
  subnetFiles: Record<string, string>;
  mtu?: number;
}

/**
 * The real Calico CNI plugin (calico-ipam beside it) and its chain, as plain data kept in the lab's
 * state: DEL goes through it too, and releases the addresses calico-ipam gave.
 */
export interface CalicoCni {
  kind: 'calico';
  plugin: string;
  conflist: CniConfList;
  /** The Pods' namespace in the lab's API server: the plugin finds each Pod by K8S_POD_NAMESPACE/NAME. */
  namespace: string;
  /** The pods' MTU by node (felix's /var/lib/calico/mtu of that node). */
  mtus: Record<string, number>;
  /** Each node's kubeconfig for the plugin. */
  kubeconfigs: Record<string, string>;
}

/** The real CNI plugin a family's pods are attached through, by its kind. */
export type PodCni = FlannelCni | CalicoCni;

/**
 * How a family's pods get their lease and CNI config, as the mode's programmer says: the
 * topology's lease by default; flanneld's subnet.env for its own pods.
 */
export interface PodSource {
  mtu: number;
  /** The lease each node's pods come from; the topology's when not given. */
  lease?(node: Topology['nodes'][number]): FlannelLease;
  /**
   * The real CNI plugin, called as a runtime calls it. flannel's (built by ci/ensure.sh, or
   * CNILAB_FLANNEL_CNI): `conflist`'s chain (flannel, then portmap in kube-flannel.yml's); it reads
   * subnet.env itself; `mtu` goes into its delegate, as a cni-conf.json that sets one does.
   * Calico's: the calico-node family's only way.
   */
  cni?: PodCni;
  /** The flannel entry of the node's CNI config (a manifest's cni-conf.json); kube-flannel.yml's by default. */
  flannelConf?: FlannelPluginConf;
}

export interface FamilyEnv extends Omit<PodSource, 'lease'> {
  topology: Topology;
  names: LabNames;
  labDir: string;
  exec: ExecutorOf;
  lease(node: Topology['nodes'][number]): FlannelLease;
}

export interface PodFamily {
  add(env: FamilyEnv): Promise<PodSetup>;
  remove(env: FamilyEnv, setup: PodSetup): Promise<void>;
}

function bridgeCall(env: FamilyEnv, binDir: string, cmd: 'ADD' | 'DEL', node: Topology['nodes'][number], podNetns: string): CniCall {
  const call = { cmd, node: env.exec(env.names.node(node)), pod: env.exec(podNetns), containerId: podNetns, ifname: IF.podEth, binDir };
  const cni = env.cni;
  if (cni?.kind === 'calico') throw new Error('flannel-style pods cannot attach through the Calico CNI plugin');
  if (!cni) {
    // The flannel plugin's delegation, reproduced: cnilab's own flannel modes (and the fallback
    // the results name where the plugin is not built).
    return {
      ...call,
      chain: [{ plugin: 'bridge', config: flannelBridgeConfig(env.lease(node), node.name, `${env.labDir}/ipam`, env.flannelConf) }],
    };
  }
  const chain = cniChain(
    cni.conflist,
    {
      subnetFile: cni.subnetFiles[node.name]!,
      dataDir: `${env.labDir}/flannel-cni/${node.name}`,
      ipamDir: `${env.labDir}/ipam/${node.name}`,
    },
    cni.mtu,
  );
  return {
    ...call,
    chain: chain.map((l) => {
      const plugin = l.type === 'flannel' ? cni.plugin : l.type;
      if (!plugin.startsWith('/') && !existsSync(`${binDir}/${plugin}`))
        throw new UsageError(
          `the CNI config chains plugin "${l.type}", which is not in ${binDir}`,
          'install it, or remove it from the chain',
        );
      return { plugin, config: l.config };
    }),
  };
}

/** Nodes in a few groups, each group's calls in order (one bridge and IPAM lock per node), groups at once. */
async function callsByNode(perNode: { node: Topology['nodes'][number]; calls: CniCall[] }[]) {
  const workers = Math.min(CNI_WORKERS, perNode.length);
  const groups = Array.from({ length: workers }, (_, w) => perNode.filter((_, i) => i % workers === w));
  const answers = await Promise.all(groups.map((g) => cniCalls(g.flatMap((n) => n.calls))));
  // Each answer by its call: group g holds nodes g, g + workers, ...
  const byCall = new Map<CniCall, CniResult | undefined>();
  for (const [w, g] of groups.entries()) for (const [k, c] of g.flatMap((n) => n.calls).entries()) byCall.set(c, answers[w]![k]);
  return byCall;
}

/** The pods as their CNI ADD answers made them: the address and the host side of the veth. */
function podsOf(
  env: FamilyEnv,
  perNode: { node: Topology['nodes'][number]; calls: CniCall[] }[],
  answers: Map<CniCall, CniResult | undefined>,
): PodRuntime[] {
  return perNode.flatMap(({ node, calls }) =>
    node.pods.map((pod, k): PodRuntime => {
      const res = answers.get(calls[k]!);
      const ip = res?.ips?.[0]?.address.split('/')[0];
      const hostIf = res?.interfaces?.find((i) => !i.sandbox && i.name !== IF.cni0)?.name;
      if (!ip || !hostIf) throw new LabError(`CNI ADD for ${pod.id} returned no address or host interface: ${JSON.stringify(res)}`);
      return { node: node.name, name: pod.name, id: pod.id, netns: env.names.pod(node.name, pod.name), ip, hostIf };
    }),
  );
}

function requireCni(): string {
  const binDir = cniBinDir();
  if (!binDir)
    throw new UsageError(
      'CNI plugins not found in /usr/lib/cni or /opt/cni/bin',
      'install containernetworking-plugins (ci/ensure.sh does)',
    );
  return binDir;
}

/** Scripts of CNI calls run at once: nodes spread over them, pods of one node in order in one script. */
const CNI_WORKERS = 4;

const flannel: PodFamily = {
  /** CNI ADD for every pod: nodes in parallel, pods of one node in order (one bridge, one IPAM lock). */
  async add(env) {
    const binDir = requireCni();
    const perNode = env.topology.nodes.map((node) => ({
      node,
      calls: node.pods.map((pod) => bridgeCall(env, binDir, 'ADD', node, env.names.pod(node.name, pod.name))),
    }));
    const answers = await callsByNode(perNode);
    return { pods: podsOf(env, perNode, answers), ops: [] };
  },
  async remove(env, setup) {
    const binDir = requireCni();
    await callsByNode(
      env.topology.nodes.map((node) => ({
        node,
        calls: setup.pods.filter((p) => p.node === node.name).map((p) => bridgeCall(env, binDir, 'DEL', node, p.netns)),
      })),
    );
    // The bridge plugin leaves cni0 behind on DEL (kubelet never deletes it either); a family
    // switch must, or the next family inherits a stray bridge and its connected route.
    await applyPlan(
      env.topology.nodes.filter((n) => n.pods.length > 0).map((n) => ({ kind: 'link-del', netns: env.names.node(n), name: IF.cni0 })),
      env.exec,
    );
    rmSync(`${env.labDir}/ipam`, { recursive: true, force: true });
    rmSync(`${env.labDir}/flannel-cni`, { recursive: true, force: true });
  },
};

const calico: PodFamily = {
  async add(env) {
    const pods = calicoPods(env.topology, env.names);
    const ops = planCalicoPods(env.topology, env.names, pods, env.mtu);
    await applyPlan(ops, env.exec);
    return { pods, ops };
  },
  async remove(env, setup) {
    await applyPlan(undoOps(setup.ops), env.exec);
  },
};

function calicoCall(
  env: FamilyEnv,
  cni: CalicoCni,
  binDir: string,
  cmd: 'ADD' | 'DEL',
  pod: { node: string; name: string; netns: string },
): CniCall {
  const node = env.topology.nodes.find((n) => n.name === pod.node)!;
  const dir = `${env.labDir}/calico-cni`;
  const chain = calicoChain(
    cni.conflist,
    pod.node,
    { kubeconfig: cni.kubeconfigs[pod.node]!, logFile: `${dir}/${pod.node}.log`, lockFile: `${dir}/${pod.node}-ipam.lock` },
    cni.mtus[pod.node]!,
  );
  return {
    cmd,
    node: env.exec(env.names.node(node)),
    pod: env.exec(pod.netns),
    containerId: pod.netns,
    ifname: IF.podEth,
    binDir,
    // calico-ipam is found beside calico through CNI_PATH (a chain link outside binDir adds its folder).
    chain: chain.map((l) => ({ plugin: l.type === 'calico' ? cni.plugin : l.type, config: l.config })),
    // What a kubelet passes (pkg/kubelet/.../cni: IgnoreUnknown, K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID).
    args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: cni.namespace, K8S_POD_NAME: calicoPodName(pod), K8S_POD_INFRA_CONTAINER_ID: pod.netns },
  };
}

/** A probe pod's Pod object name in the lab's API server: unique per node (pod names repeat across nodes). */
export const calicoPodName = (pod: { node: string; name: string }) => `${pod.node}-${pod.name}`.toLowerCase();

/** The real calico-node's pods: the Calico CNI plugin with calico-ipam, for Pods registered by the programmer. */
const calicoNode: PodFamily = {
  async add(env) {
    const cni = env.cni;
    if (cni?.kind !== 'calico') throw new Error('calico-node pods need the Calico CNI plugin');
    const binDir = requireCni();
    mkdirSync(`${env.labDir}/calico-cni`, { recursive: true, mode: 0o700 });
    const perNode = env.topology.nodes.map((node) => ({
      node,
      calls: node.pods.map((pod) =>
        calicoCall(env, cni, binDir, 'ADD', { node: node.name, name: pod.name, netns: env.names.pod(node.name, pod.name) }),
      ),
    }));
    const retried: string[] = [];
    for (let attempt = 1; ; attempt++) {
      try {
        const answers = await callsByNode(perNode);
        return { pods: podsOf(env, perNode, answers), ops: [], ...(retried.length ? { retried } : {}) };
      } catch (e) {
        // Not once the lab is going down: a command killed by Ctrl-C fails too, and is no reason to try again.
        if (!(e instanceof KernelError || e instanceof TimeoutError) || attempt >= ADD_ATTEMPTS || isCancelled()) throw e;
        retried.push(`attempt ${attempt}: ${errorLine(e).text.split('\n')[0]}`);
        // As a kubelet does: the failed sandbox's network torn down (DEL is idempotent), then ADD again.
        const del = perNode.map(({ node, calls }) => ({ node, calls: calls.map((c) => ({ ...c, cmd: 'DEL' as const })) }));
        // A DEL that fails is said beside the retry (the next ADD still fails loudly if it mattered).
        await callsByNode(del).catch((d: unknown) => {
          if (isCancelled()) throw d;
          retried.push(`attempt ${attempt}: its DEL failed too: ${errorLine(d).text.split('\n')[0]}`);
        });
        await sleep(1000 * attempt);
      }
    }
  },
  async remove(env, setup) {
    const cni = env.cni;
    if (cni?.kind !== 'calico') throw new Error('calico-node pods are deleted through the Calico CNI plugin');
    const binDir = requireCni();
    await callsByNode(
      env.topology.nodes.map((node) => ({
        node,
        calls: setup.pods.filter((p) => p.node === node.name).map((p) => calicoCall(env, cni, binDir, 'DEL', p)),
      })),
    );
  },
};

/**
 * The real flanneld's pods: the same CNI chain, from the lease flanneld wrote (env.lease reads its
 * subnet.env). The flannel CNI plugin itself is not served by the module proxy here, so its
 * delegation to bridge + host-local is reproduced (plan/pods.ts flannelBridgeConfig).
 */
export const podFamilies: Record<Family, PodFamily> = { flannel, calico, flanneld: flannel, 'calico-node': calicoNode };
