// From raw samples to the `perf` objects of results.json: statistics per path, ratios to the
// underlay measured in the same run, CPU per GB, MTU verdicts.
import type { Perf, PerfForPath, ResultsFile, RunResult } from '../results/schema.ts';
import { bootstrapPercentile, type Estimate } from '../stats/precision.ts';
import { prng } from '../stats/random.ts';
import { jitter, mean, percentile, ratioOfMeans, summarize } from '../stats/stats.ts';
import type { ModeSamples, PathSamples, PerfSamples } from '../results/samples.ts';

function rtt(us: readonly number[]) {
  // Seeded by the sample count: the same samples give the same intervals in every report.
  const p50 = bootstrapPercentile(us, 50, prng(us.length));
  const p99 = bootstrapPercentile(us, 99, prng(us.length + 1));
  return {
    p50: percentile(us, 50),
    p90: percentile(us, 90),
    p99: percentile(us, 99),
    p50ci: [p50.lo, p50.hi] as [number, number],
    p99ci: [p99.lo, p99.hi] as [number, number],
    mean: mean(us),
    jitter: jitter(us),
    samples: us.length,
  };
}

function cpuPerGB(runs: PathSamples['single']): number | undefined {
  const bytes = runs.reduce((a, r) => a + r.bytes, 0);
  const cpu = runs.reduce((a, r) => a + r.cpuSeconds, 0);
  return bytes > 0 && Number.isFinite(cpu) ? cpu / (bytes / 1e9) : undefined;
}

/** A value of one test, with the round it was taken in when known. */
export interface Tagged {
  v: number;
  round?: number | undefined;
}

const gbpsOf = (runs: PathSamples['single']): Tagged[] => runs.map((r) => ({ v: r.gbps, round: r.round }));

/** CPU seconds (sender + receiver, their own accounting) per GB moved, one value per test. */
const cpuTagged = (runs: PathSamples['single']): Tagged[] =>
  runs.filter((r) => r.bytes > 0 && Number.isFinite(r.cpuSeconds)).map((r) => ({ v: r.cpuSeconds / (r.bytes / 1e9), round: r.round }));
const cpuSamples = (runs: PathSamples['single']) => cpuTagged(runs).map((t) => t.v);

/** The mean of each round's values, by round (the underlay is measured more than once a round). */
function roundMeans(xs: readonly Tagged[]): Map<number, number> {
  const sums = new Map<number, number[]>();
  for (const x of xs) if (x.round !== undefined) sums.set(x.round, [...(sums.get(x.round) ?? []), x.v]);
  return new Map([...sums].map(([r, v]) => [r, mean(v)]));
}

/**
 * A ratio with its interval. When every value carries its round, each round's ratio is the mode's
 * value over the mean of the underlay measured in that round, and the per-round ratios are averaged
 * with a t interval: slow drift of a noisy machine cancels. Untagged values of equal count pair by
 * position; otherwise the ratio of the means, by the delta method.
 */
export function pairedRatio(a: readonly Tagged[], b: readonly Tagged[]): Estimate {
  if (a.length >= 2 && a.every((x) => x.round !== undefined) && b.every((x) => x.round !== undefined)) {
    const base = roundMeans(b);
    const ratios = a.flatMap((x) => {
      const u = base.get(x.round!);
      return u !== undefined && u > 0 ? [x.v / u] : [];
    });
    if (ratios.length >= 2) {
      const s = summarize(ratios);
      return { mean: s.mean, ci95: s.ci95 };
    }
  }
  if (a.length >= 2 && a.length === b.length && b.every((x) => x.v > 0)) {
    const s = summarize(a.map((x, i) => x.v / b[i]!.v));
    return { mean: s.mean, ci95: s.ci95 };
  }
  return ratioOfMeans(
    a.map((x) => x.v),
    b.map((x) => x.v),
  );
}

/**
 * Each mode's headline throughput ratio per round (same-subnet, over the underlay measured in that
 * round): what two modes are compared on (stats/pairs.ts), round by round.
 */
export function headlinePerRound(
  underlay: readonly PathSamples[],
  modes: readonly ModeSamples[],
): { name: string; perRound: Map<number, number> }[] {
  return modes.flatMap((m) => {
    const h = headlineOf(m, underlay);
    if (!h) return [];
    const base = roundMeans(gbpsOf(h.u.single));
    const perRound = new Map<number, number>();
    for (const [round, v] of roundMeans(gbpsOf(h.p.single))) {
      const b = base.get(round);
      if (b !== undefined && b > 0) perRound.set(round, v / b);
    }
    return [{ name: m.mode, perRound }];
  });
}

/** A mode's headline path (same-subnet, reachable, measured) with the underlay's samples on it. */
function headlineOf(m: ModeSamples, underlay: readonly PathSamples[]): { p: PathSamples; u: PathSamples } | undefined {
  const p = m.paths.find((x) => x.path === 'same-subnet' && x.reachable && x.single.length);
  const u = p && underlay.find((x) => x.path === p.path);
  return p && u?.single.length ? { p, u } : undefined;
}

/** The ratios sampling stops on: each host mode's headline throughput and CPU per GB against the underlay. */
export function headlineEstimates(underlay: readonly PathSamples[], modes: readonly ModeSamples[]): Record<string, Estimate> {
  const out: Record<string, Estimate> = {};
  for (const m of modes) {
    const h = headlineOf(m, underlay);
    if (!h) continue;
    const { p, u } = h;
    out[`${m.mode} throughput`] = pairedRatio(gbpsOf(p.single), gbpsOf(u.single));
    const ca = cpuTagged(p.single);
    const cb = cpuTagged(u.single);
    if (ca.length && cb.length) out[`${m.mode} CPU/GB`] = pairedRatio(ca, cb);
  }
  return out;
}

export function summarizePath(p: PathSamples, base: PathSamples | undefined): PerfForPath {
  const single = p.single.map((r) => r.gbps);
  const out: PerfForPath = { path: p.path, src: p.src, dst: p.dst, reachable: p.reachable };
  if (!p.reachable || single.length === 0) return out;
  out.throughputGbps = summarize(single);
  if (p.parallel.length) out.throughputGbpsParallel = summarize(p.parallel.map((r) => r.gbps));
  if (p.rttUs.length) out.rttUs = rtt(p.rttUs);
  if (base?.single.length) out.ratioToUnderlay = pairedRatio(gbpsOf(p.single), gbpsOf(base.single));
  const cpu = cpuPerGB([...p.single, ...p.parallel]);
  if (cpu !== undefined) out.cpuSecondsPerGB = cpu;
  const cs = cpuSamples(p.single);
  if (cs.length) out.cpuPerGB = summarize(cs);
  const cyc = p.single.filter((r) => r.cycles !== undefined && r.bytes > 0).map((r) => r.cycles! / r.bytes);
  if (cyc.length) out.cyclesPerByte = summarize(cyc);
  const cb = base ? cpuTagged(base.single) : [];
  if (cs.length && cb.length) out.cpuRatioToUnderlay = pairedRatio(cpuTagged(p.single), cb);
  return out;
}

/** The headline numbers of a mode come from its same-subnet path: every mode reaches it. */
/**
 * A mode's perf. `comparable`: measured on the host, like the host's other modes. A guest's are
 * ratios to the underlay measured in that same guest, marked so: never against the host's numbers.
 */
export function perfFor(m: ModeSamples, underlay: PathSamples[], comparable: boolean): Perf {
  const paths = m.paths.map((p) =>
    summarizePath(
      p,
      underlay.find((u) => u.path === p.path),
    ),
  );
  const head = paths.find((p) => p.path === 'same-subnet' && p.throughputGbps) ?? paths.find((p) => p.throughputGbps);
  const perf: Perf = { comparable, paths };
  if (head?.throughputGbps) perf.throughputGbps = head.throughputGbps;
  if (head?.rttUs) perf.rttUs = { p50: head.rttUs.p50, p90: head.rttUs.p90, p99: head.rttUs.p99 };
  if (head?.ratioToUnderlay) perf.ratioToUnderlay = head.ratioToUnderlay;
  if (head?.cpuPerGB) perf.cpuPerGB = head.cpuPerGB;
  if (head?.cpuRatioToUnderlay) perf.cpuRatioToUnderlay = head.cpuRatioToUnderlay;
  perf.ratioScope = comparable ? 'host' : 'guest';
  if (m.mtu) {
    // A pod MTU the path cannot carry shows as a DF probe smaller than the pod MTU allows.
    const pathMtu = m.mtu.maxDfPayload + 28;
    perf.mtu = {
      expected: m.mtu.expected,
      observed: m.mtu.observed,
      maxDfPayload: m.mtu.maxDfPayload,
      pathMtu,
      podMtuExceedsPath: m.mtu.observed > pathMtu,
    };
  }
  return perf;
}

export function underlayPerf(s: PerfSamples): NonNullable<ResultsFile['underlay']> {
  const same = s.underlay.find((u) => u.path === 'same-subnet') ?? s.underlay[0];
  if (!same) return {};
  const u = summarizePath(same, undefined);
  return {
    ...(u.throughputGbps ? { throughputGbps: u.throughputGbps } : {}),
    ...(u.throughputGbpsParallel ? { throughputGbpsParallel: u.throughputGbpsParallel } : {}),
    ...(u.rttUs ? { rttUs: u.rttUs } : {}),
    paths: s.underlay.map((x) => summarizePath(x, undefined)),
    seed: s.seed,
    order: s.order,
    ...(s.stop ? { stop: s.stop } : {}),
    ...(s.pinned !== undefined ? { pinned: s.pinned } : {}),
    ...(s.labPerMode !== undefined ? { labPerMode: s.labPerMode } : {}),
    ...(s.cycles ? { cycles: s.cycles } : {}),
  };
}

export function attachPerf(runs: RunResult[], s: PerfSamples, comparable: boolean): RunResult[] {
  return runs.map((r) => {
    const m = s.modes.find((x) => x.mode === r.mode);
    // The MTU search ran in the wire check (RunResult.mtuSearch); older samples carry it themselves.
    const mtu = m?.mtu ?? r.mtuSearch;
    return m && r.status !== 'skipped' ? { ...r, perf: perfFor(mtu ? { ...m, mtu } : m, s.underlay, comparable) } : r;
  });
}
