// A netns lab's pods, replaced as a family changes: the old family's removed through the chain that
// attached them, then the new family's made (program/pods.ts does the work per family).
import { type Family, topologyLease } from '../../plan/pods.ts';
import { type FamilyEnv, type PodSource, podFamilies } from '../../program/pods.ts';
import type { Progress } from '../backend.ts';
import type { LabState } from './state.ts';

/** Pods of the current family removed, then `family`'s made with the lease `source` gives (the topology's by default). */
export async function replacePods(
  state: LabState,
  base: Pick<FamilyEnv, 'topology' | 'names' | 'labDir' | 'exec'>,
  family: Family,
  source: PodSource,
  { save, progress }: { save: () => void; progress: Progress },
): Promise<void> {
  const topology = base.topology;
  const old = state.family;
  if (old) {
    const t = performance.now();
    // Deleted through the chain that attached them (a runtime deletes with the config it added with).
    const podCni = state.podCni;
    await podFamilies[old].remove(
      { ...base, mtu: 0, lease: (n) => topologyLease(topology, n, 0), ...(podCni ? { cni: podCni } : {}) },
      { pods: state.pods, ops: state.podOps },
    );
    state.pods = [];
    state.podOps = [];
    state.family = undefined;
    delete state.podCni;
    save();
    progress(`pods: removed ${old} pods in ${Math.round(performance.now() - t)} ms`);
  }
  const t = performance.now();
  state.family = family;
  if (source.cni) state.podCni = source.cni;
  save();
  const setup = await podFamilies[family].add({
    ...base,
    ...source,
    lease: source.lease ?? ((n) => topologyLease(topology, n, source.mtu)),
  });
  state.pods = setup.pods;
  state.podOps = setup.ops;
  save();
  progress(`pods: ${setup.pods.length} ${family}-style pods in ${Math.round(performance.now() - t)} ms`);
  for (const r of setup.retried ?? []) progress(`pods: CNI ADD tried again, as a kubelet would (${r})`);
}
