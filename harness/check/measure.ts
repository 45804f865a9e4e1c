// Performance rounds on a live lab. Each round visits every mode in a fresh random order and
// measures the bare underlay at a random point of it, so slow drift of a noisy machine spreads over
// all modes instead of favouring whichever ran first.
import { availableParallelism } from 'node:os';
import type { BackendSession, LabView } from '../backends/backend.ts';
import { type ModeDef, podMtuOf } from '../modes/mode.ts';
import { IF } from '../plan/names.ts';
import { formatIpv4 } from '../net/ipv4.ts';
import type { NodeExecutor } from '../node/executor.ts';
import { iperf, linkMtu, maxDfPayload, rttSamples } from '../probe/perf.ts';
import type { ModeSamples, PathSamples, PerfOptions, PerfPath, PerfSamples, PerfStop } from '../results/samples.ts';
import { relativeHalfWidth, stopDecision } from '../stats/precision.ts';
import { headlineEstimates } from './summarize.ts';
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

interface PathPlan {
  /** Parallel streams: once, in the first round (its ratio is not a stopping criterion). */
  parallel: boolean;
  pin: { client: number; server: number } | undefined;
}

async function measurePath(
  srcNs: NodeExecutor,
  dstNs: NodeExecutor,
  dstIp: string,
  opts: PerfOptions,
  into: PathSamples,
  plan: PathPlan,
): Promise<void> {
  into.rttUs.push(...(await rttSamples(srcNs, dstIp, opts.rttCount)));
  into.single.push(await iperf(srcNs, dstNs, dstIp, { seconds: opts.seconds, streams: 1, ...(plan.pin ? { pin: plan.pin } : {}) }));
  if (plan.parallel && opts.streams > 1)
    into.parallel.push(
      await iperf(srcNs, dstNs, dstIp, { seconds: opts.seconds, streams: opts.streams, ...(plan.pin ? { pin: plan.pin } : {}) }),
    );
}

/** No run samples forever: past this many rounds the budget is not the limit, the machine is. */
const MAX_ROUNDS = 60;

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
  const pin = availableParallelism() >= 2 ? { client: 0, server: 1 } : undefined;
  const target = opts.target ?? 0.05;
  const started = performance.now();
  let stop: PerfStop | undefined;
  for (let round = 0; round < MAX_ROUNDS && !stop; round++) {
    const roundStart = performance.now();
    // The headline (same-subnet) path every round: its ratios decide when to stop. The other path
    // and the parallel streams in the first round only, so later rounds stay short.
    const active = (path: PerfPath) => path === 'same-subnet' || round === 0;
    const plan: PathPlan = { parallel: round === 0, pin };
    const visit = shuffle(['underlay', ...modes.map((m) => m.name)], rand);
    order.push(visit);
    for (const item of visit) {
      if (item === 'underlay') {
        opts.progress?.(`perf round ${round + 1}: underlay`);
        for (const [i, p] of pairs.entries())
          if (active(p.path))
            await measurePath(lab.nodeExecutor(p.a.name), lab.nodeExecutor(p.b.name), formatIpv4(p.b.ip), opts, underlay[i]!, plan);
        continue;
      }
      const mode = modes.find((m) => m.name === item)!;
      if (view().mode?.name !== mode.name) await session.program(mode);
      opts.progress?.(`perf round ${round + 1}: ${mode.name}`);
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
        if (reachable && active(p.path)) await measurePath(lab.executor(src.netns), lab.executor(dst.netns), dst.ip, opts, ps, plan);
      }
      if (!s.mtu) s.mtu = await measureMtu(view(), mode, pairs);
    }
    const now = performance.now();
    const estimates = headlineEstimates(underlay, [...samples.values()]);
    const halfWidths = Object.fromEntries(Object.entries(estimates).map(([k, e]) => [k, relativeHalfWidth(e)]));
    const base = { rounds: round + 1, elapsedMs: Math.round(now - started), target, budgetMs: opts.budgetMs ?? 0, halfWidths };
    if (opts.budgetMs === undefined) {
      // No budget: a fixed number of rounds, as asked.
      if (round + 1 >= opts.rounds)
        stop = { ...base, why: 'rounds', missed: Object.keys(halfWidths).filter((k) => !(halfWidths[k]! <= target)) };
      continue;
    }
    const d = stopDecision({
      rounds: round + 1,
      minRounds: opts.rounds,
      estimates,
      target,
      elapsedMs: now - started,
      budgetMs: opts.budgetMs,
      roundMs: now - roundStart,
    });
    if (d.stop) stop = { ...base, why: d.why, missed: d.missed.map((m) => m.name) };
    else {
      const widest = (Math.max(...Object.values(halfWidths)) * 100).toFixed(1);
      opts.progress?.(`perf: after ${round + 1} rounds the widest interval is ±${widest}% (target ±${target * 100}%)`);
    }
  }
  return { seed, order, underlay, modes: [...samples.values()], ...(stop ? { stop } : {}), pinned: pin !== undefined };
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
  const observed = await linkMtu(exec, IF.podEth);
  const expected = podMtuOf(mode, t, lab.settings);
  // Search a little past the pod MTU: a payload above it passing would mean fragmentation or a lie.
  const max = await maxDfPayload(exec, dst.ip, 500, Math.max(observed, t.mtu) - 28 + 64);
  return { expected, observed, maxDfPayload: max, path: p.path };
}
