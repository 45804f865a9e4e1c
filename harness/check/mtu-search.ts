// The largest DF packet that really crosses a mode's pod path, found by binary search: asked for with
// --perf, during the wire check (the mode is programmed then anyway, and a DF ping is no timing, so
// it costs the sampling rounds nothing).
import type { LabView } from '../backends/backend.ts';
import { type ModeDef, podMtuOf } from '../modes/mode.ts';
import { IF } from '../plan/names.ts';
import { linkMtu, maxDfPayload } from '../probe/perf.ts';
import type { ModeSamples } from '../results/samples.ts';
import { perfNodePairs } from './measure.ts';

/** The pod MTU the mode set, the one it must set, and the largest DF packet that really crosses. */
export async function searchMtu(lab: LabView, mode: ModeDef): Promise<ModeSamples['mtu']> {
  const t = lab.topology;
  // Prefer the path with encapsulation (cross-subnet) when the mode reaches it: that is where MTU bites.
  const p = [...perfNodePairs(t.nodes)]
    .reverse()
    .find((x) => mode.expect(x.a, x.b, x.path, { topology: t, settings: lab.settings }).reachable);
  if (!p) return undefined;
  const src = lab.pods.find((x) => x.node === p.a.name)!;
  const dst = lab.pods.find((x) => x.node === p.b.name)!;
  const exec = lab.executor(src.netns);
  const observed = await linkMtu(exec, IF.podEth);
  const expected = podMtuOf(mode, t, lab.settings);
  // Search a little past the pod MTU: a payload above it passing would mean fragmentation or a lie.
  const max = await maxDfPayload(exec, dst.ip, 500, Math.max(observed, t.mtu) - 28 + 64, observed - 28);
  return { expected, observed, maxDfPayload: max, path: p.path };
}
