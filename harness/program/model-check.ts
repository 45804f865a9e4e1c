// What every real daemon's programmer does with its model once the daemon settled: the diff of the
// model's facts against the kernel's (the previous backend's leftovers held apart), and the removal
// of those leftovers once they are recorded.
import type { ModeDef } from '../modes/mode.ts';
import { routeIn } from '../net/ipv4.ts';
import type { KernelOp } from '../plan/ops.ts';
import { diffFacts, removeFactsOps } from '../plan/model-diff.ts';
import type { RunResult } from '../results/schema.ts';
import type { ProgramTarget } from './target.ts';

export type Facts = Map<string, Set<string>>;

/** Removes what the daemon's previous backend left (unless kept), so the wire shows what this one programs. */
export async function removeLeftovers(t: ProgramTarget, left: readonly string[]): Promise<void> {
  const ops = t.env.topology.nodes.flatMap((n) =>
    removeFactsOps(
      t.env.names.node(n),
      left.filter((l) => l.startsWith(`${n.name}: `)).map((l) => l.slice(n.name.length + 2)),
    ),
  );
  await t.apply(ops, { force: true });
}

/**
 * Removes what a daemon programmed, leaving for a mode of another kind: its devices (`owned`), and
 * its routes into the pod network (blackholes too), except those through its own devices (they go
 * with them) or through `keep` (flannel's cni0 stays with the pods).
 */
export async function clearDaemonKernelState(
  t: ProgramTarget,
  owned: (ifname: string) => boolean,
  keep: readonly string[] = [],
): Promise<void> {
  const snaps = await t.snapshots();
  const ops: KernelOp[] = snaps.flatMap((s) => {
    const netns = t.env.names.node(s.node);
    const devs = s.links.filter((l) => owned(l.ifname)).map((l) => l.ifname);
    const spared = (dev: string | undefined) => devs.includes(dev ?? '') || keep.includes(dev ?? '');
    return [
      ...devs.map((name): KernelOp => ({ kind: 'link-del', netns, name })),
      ...s.routes
        .filter((r) => r.protocol !== 'kernel' && !spared(r.dev) && routeIn(t.env.topology.podCidr, r.dst))
        .map(
          (r): KernelOp => ({
            kind: 'route',
            netns,
            dst: r.dst,
            ...(r.type === 'blackhole' ? { type: 'blackhole' as const } : {}),
            del: true,
          }),
        ),
    ];
  });
  await t.apply(ops, { force: true });
}

/** The model's facts against the kernel's, per node; leftovers are reported as such, not held against this model. */
export function modelDiffOf(model: ModeDef, expected: Facts, after: Facts, left?: readonly string[]): NonNullable<RunResult['modelDiff']> {
  return {
    model: model.name,
    compared: [...expected.values()].reduce((a, f) => a + f.size, 0),
    differences: [...after].flatMap(([node, facts]) =>
      diffFacts(node, expected.get(node) ?? new Set(), new Set([...facts].filter((f) => !left?.includes(`${node}: ${f}`)))),
    ),
  };
}
