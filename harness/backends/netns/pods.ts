// Pod families: how pods are attached depends on the CNI. Switching within a family keeps pods,
// switching across families rebuilds them. flannel-style pods come from the real CNI plugins
// (flannel's CNI plugin delegates to bridge + host-local with the node's lease); Calico-style pods
// are planned (plan/pods.ts) and applied.
import { rmSync } from 'node:fs';
import pLimit from 'p-limit';
import type { ExecutorOf } from '../../node/executor.ts';
import { applyPlan } from '../../node/apply.ts';
import { IF, type LabNames } from '../../plan/names.ts';
import { undoOps, type KernelOp } from '../../plan/ops.ts';
import {
  calicoPods,
  type FlannelLease,
  flannelBridgeConfig,
  flannelPluginConfig,
  planCalicoPods,
  type Family,
  type PodRuntime,
} from '../../plan/pods.ts';
import type { Topology } from '../../topology/types.ts';
import { cniBinDir, cniCall } from '../../node/cni.ts';

export interface PodSetup {
  pods: PodRuntime[];
  /** Planned ops (Calico); empty for pods made by CNI plugins. */
  ops: KernelOp[];
}

export interface FamilyEnv {
  topology: Topology;
  names: LabNames;
  labDir: string;
  mtu: number;
  exec: ExecutorOf;
  /** The lease each node's pods come from: the topology's (cnilab's modes) or flanneld's subnet.env. */
  lease(node: Topology['nodes'][number]): FlannelLease;
  /** The real flannel CNI plugin, when a user gave one (CNILAB_FLANNEL_CNI): it reads subnet.env itself. */
  flannelCni?: { plugin: string; subnetFile(node: string): string };
}

export interface PodFamily {
  add(env: FamilyEnv): Promise<PodSetup>;
  remove(env: FamilyEnv, setup: PodSetup): Promise<void>;
}

function bridgeCall(env: FamilyEnv, binDir: string, cmd: 'ADD' | 'DEL', node: Topology['nodes'][number], podNetns: string) {
  return cniCall(cmd, {
    node: env.exec(env.names.node(node)),
    pod: env.exec(podNetns),
    containerId: podNetns,
    ifname: IF.podEth,
    config: env.flannelCni
      ? flannelPluginConfig(
          env.flannelCni.subnetFile(node.name),
          `${env.labDir}/flannel-cni/${node.name}`,
          `${env.labDir}/ipam/${node.name}`,
        )
      : flannelBridgeConfig(env.lease(node), node.name, `${env.labDir}/ipam`),
    binDir,
    plugin: env.flannelCni?.plugin ?? 'bridge',
  });
}

function requireCni(): string {
  const binDir = cniBinDir();
  if (!binDir) throw new Error('CNI plugins not found in /usr/lib/cni or /opt/cni/bin: install containernetworking-plugins');
  return binDir;
}

const flannel: PodFamily = {
  /** CNI ADD for every pod: nodes in parallel, pods of one node in order (one bridge, one IPAM lock). */
  async add(env) {
    const binDir = requireCni();
    const limit = pLimit(4);
    const perNode = await Promise.all(
      env.topology.nodes.map((node) =>
        limit(async () => {
          const out: PodRuntime[] = [];
          for (const pod of node.pods) {
            const podNetns = env.names.pod(node.name, pod.name);
            const res = await bridgeCall(env, binDir, 'ADD', node, podNetns);
            const ip = res?.ips?.[0]?.address.split('/')[0];
            const hostIf = res?.interfaces?.find((i) => !i.sandbox && i.name !== IF.cni0)?.name;
            if (!ip || !hostIf) throw new Error(`CNI ADD for ${pod.id} returned no address or host interface: ${JSON.stringify(res)}`);
            out.push({ node: node.name, name: pod.name, id: pod.id, netns: podNetns, ip, hostIf });
          }
          return out;
        }),
      ),
    );
    return { pods: perNode.flat(), ops: [] };
  },
  async remove(env, setup) {
    const binDir = requireCni();
    const limit = pLimit(4);
    await Promise.all(
      setup.pods.map((p) => limit(() => bridgeCall(env, binDir, 'DEL', env.topology.nodes.find((n) => n.name === p.node)!, p.netns))),
    );
    // The bridge plugin leaves cni0 behind on DEL (kubelet never deletes it either); a family
    // switch must, or the next family inherits a stray bridge and its connected route.
    await applyPlan(
      env.topology.nodes.filter((n) => n.pods.length > 0).map((n) => ({ kind: 'link-del', netns: env.names.node(n), name: IF.cni0 })),
      env.exec,
    );
    rmSync(`${env.labDir}/ipam`, { recursive: true, force: true });
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

/**
 * The real flanneld's pods: the same CNI chain, from the lease flanneld wrote (env.lease reads its
 * subnet.env). The flannel CNI plugin itself is not served by the module proxy here, so its
 * delegation to bridge + host-local is reproduced (plan/pods.ts flannelBridgeConfig).
 */
export const podFamilies: Record<Family, PodFamily> = { flannel, calico, flanneld: flannel };
