// Performance rounds on a live lab. Each round visits every mode in a fresh random order and
// measures the bare underlay at a random point of it, so slow drift of a noisy machine spreads over
// all modes instead of favouring whichever ran first.
import type { BackendSession, LabView } from '../backends/backend.ts';
import type { ModeDef } from '../modes/mode.ts';
import { formatIpv4 } from '../net/ipv4.ts';
import type { NodeExecutor } from '../node/executor.ts';
import { iperf, maxDfPayload, rttSamples } from '../probe/perf.ts';
import type { ModeSamples, PathSamples, PerfOptions, PerfPath, PerfSamples } from '../results/samples.ts';
import { prng, shuffle } from '../stats/random.ts';
import { pathBetween, type ResolvedNode } from '../topology/types.ts';

export { prng, shuffle };

/** The node pairs measured: one on the same subnet and one across the router, when the topology has them. */
export function perfNodePairs(nodes: readonly ResolvedNode[]): { path: PerfPath; a: ResolvedNode; b: ResolvedNode }[] {
  const out: { path: PerfPath; a: ResolvedNode; b: ResolvedNode }[] = [];
  for (const path of ['same-subnet', 'cross-subnet'] as const) {
    outer: for (const a of nodes)
      for (const b of nodes)
        if (a.name !== b.name && a.pods.length && b.pods.length && pathBetween(a, b) === path) {
          out.push({ path, a, b });
          break outer;
        }
  }
  return out;
}

async function measurePath(srcNs: NodeExecutor, dstNs: NodeExecutor, dstIp: string, opts: PerfOptions, into: PathSamples): Promise<void> {
  into.rttUs.push(...(await rttSamples(srcNs, dstIp, opts.rttCount)));
  into.single.push(await iperf(srcNs, dstNs, dstIp, { seconds: opts.seconds, streams: 1 }));
  if (opts.streams > 1) into.parallel.push(await iperf(srcNs, dstNs, dstIp, { seconds: opts.seconds, streams: opts.streams }));
}

/** Measures on a session whose nodes are reachable from here, switching it between modes. */
export async function measurePerf(session: BackendSession, modes: readonly ModeDef[], opts: PerfOptions): Promise<PerfSamples> {
  const view = () => {
    const v = session.view();
    if (!v) throw new Error(`measurePerf: lab ${session.lab} on ${session.backend} has no local view; its backend measures itself`);
    return v;
  };
  const lab = view();
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rand = prng(seed);
  const t = lab.topology;
  const pairs = perfNodePairs(t.nodes);
  const underlay: PathSamples[] = pairs.map((p) => ({
    path: p.path,
    src: p.a.name,
    dst: p.b.name,
    reachable: true,
    rttUs: [],
    single: [],
    parallel: [],
  }));
  const samples = new Map<string, ModeSamples>(modes.map((m) => [m.name, { mode: m.name, paths: [] }]));
  const order: string[][] = [];
  for (let round = 0; round < opts.rounds; round++) {
    const visit = shuffle(['underlay', ...modes.map((m) => m.name)], rand);
    order.push(visit);
    for (const item of visit) {
      if (item === 'underlay') {
        opts.progress?.(`perf round ${round + 1}/${opts.rounds}: underlay`);
        for (const [i, p] of pairs.entries())
          await measurePath(lab.nodeExecutor(p.a.name), lab.nodeExecutor(p.b.name), formatIpv4(p.b.ip), opts, underlay[i]!);
        continue;
      }
      const mode = modes.find((m) => m.name === item)!;
      if (view().mode?.name !== mode.name) await session.program(mode);
      opts.progress?.(`perf round ${round + 1}/${opts.rounds}: ${mode.name}`);
      const s = samples.get(mode.name)!;
      for (const p of pairs) {
        const src = view().pods.find((x) => x.node === p.a.name)!;
        const dst = view().pods.find((x) => x.node === p.b.name)!;
        const reachable = mode.expect(p.a, p.b, p.path, { topology: t, settings: lab.settings }).reachable;
        let ps = s.paths.find((x) => x.path === p.path);
        if (!ps) {
          ps = { path: p.path, src: src.id, dst: dst.id, reachable, rttUs: [], single: [], parallel: [] };
          s.paths.push(ps);
        }
        if (reachable) await measurePath(lab.executor(src.netns), lab.executor(dst.netns), dst.ip, opts, ps);
      }
      if (!s.mtu) s.mtu = await measureMtu(view(), mode, pairs);
    }
  }
  return { seed, order, underlay, modes: [...samples.values()] };
}

/** The pod MTU the mode set, the one it must set, and the largest DF packet that really crosses. */
async function measureMtu(lab: LabView, mode: ModeDef, pairs: ReturnType<typeof perfNodePairs>): Promise<ModeSamples['mtu']> {
  const t = lab.topology;
  // Prefer the path with encapsulation (cross-subnet) when the mode reaches it: that is where MTU bites.
  const p = [...pairs].reverse().find((x) => mode.expect(x.a, x.b, x.path, { topology: t, settings: lab.settings }).reachable);
  if (!p) return undefined;
  const src = lab.pods.find((x) => x.node === p.a.name)!;
  const dst = lab.pods.find((x) => x.node === p.b.name)!;
  const exec = lab.executor(src.netns);
  const link = JSON.parse((await exec.run(['ip', '-json', 'link', 'show', 'eth0'])).stdout) as { mtu: number }[];
  const observed = link[0]!.mtu;
  const expected = mode.podMtu(t);
  // Search a little past the pod MTU: a payload above it passing would mean fragmentation or a lie.
  const max = await maxDfPayload(exec, dst.ip, 500, Math.max(observed, t.mtu) - 28 + 64);
  return { expected, observed, maxDfPayload: max, path: p.path };
}
