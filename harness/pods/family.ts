// Pod families: how pods are attached depends on the CNI. Switching within a family keeps pods,
// switching across families rebuilds them.
import { rmSync } from 'node:fs';
import { applyPlan } from '../kernel/apply.ts';
import type { Family, PodRuntime } from '../modes/mode.ts';
import { IF, type LabNames } from '../plan/names.ts';
import { undoOps, type KernelOp } from '../plan/ops.ts';
import type { Topology } from '../topology/types.ts';
import { calicoPods, planCalicoPods } from './calico-pods.ts';
import { cniBinDir } from './cni.ts';
import { addFlannelPods, delFlannelPods } from './flannel-pods.ts';

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
}

export interface PodFamily {
  add(env: FamilyEnv): Promise<PodSetup>;
  remove(env: FamilyEnv, setup: PodSetup): Promise<void>;
}

const flannel: PodFamily = {
  async add(env) {
    const binDir = cniBinDir();
    if (!binDir) throw new Error('CNI plugins not found in /usr/lib/cni or /opt/cni/bin: install containernetworking-plugins');
    const pods = await addFlannelPods({ ...env, binDir, ipamDir: `${env.labDir}/ipam` });
    return { pods, ops: [] };
  },
  async remove(env, setup) {
    const binDir = cniBinDir()!;
    await delFlannelPods({ ...env, binDir, ipamDir: `${env.labDir}/ipam` }, setup.pods);
    // The bridge plugin leaves cni0 behind on DEL (kubelet never deletes it either); a family
    // switch must, or the next family inherits a stray bridge and its connected route.
    await applyPlan(env.topology.nodes.filter((n) => n.pods.length > 0).map((n) => ({ kind: 'link-del', netns: env.names.node(n), name: IF.cni0 })));
    rmSync(`${env.labDir}/ipam`, { recursive: true, force: true });
  },
};

const calico: PodFamily = {
  async add(env) {
    const pods = calicoPods(env.topology, env.names);
    const ops = planCalicoPods(env.topology, env.names, pods, env.mtu);
    await applyPlan(ops);
    return { pods, ops };
  },
  async remove(_env, setup) {
    await applyPlan(undoOps(setup.ops));
  },
};

export const podFamilies: Record<Family, PodFamily> = { flannel, calico };
