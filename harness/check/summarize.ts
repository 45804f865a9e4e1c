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

/** CPU seconds (sender + receiver, their own accounting) per GB moved, one value per test. */
const cpuSamples = (runs: PathSamples['single']) =>
  runs.filter((r) => r.bytes > 0 && Number.isFinite(r.cpuSeconds)).map((r) => r.cpuSeconds / (r.bytes / 1e9));

/**
 * A ratio with its interval. When both were measured in every round, the per-round ratios
 * (the underlay measured in the same round) are averaged: slow drift of a noisy machine cancels.
 * Otherwise the ratio of the means, by the delta method.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): Estimate {
  if (a.length >= 2 && a.length === b.length && b.every((x) => x > 0)) {
    const s = summarize(a.map((x, i) => x / b[i]!));
    return { mean: s.mean, ci95: s.ci95 };
  }
  return ratioOfMeans(a, b);
}

/** The ratios sampling stops on: each host mode's headline throughput and CPU per GB against the underlay. */
export function headlineEstimates(underlay: readonly PathSamples[], modes: readonly ModeSamples[]): Record<string, Estimate> {
  const out: Record<string, Estimate> = {};
  for (const m of modes) {
    const p = m.paths.find((x) => x.path === 'same-subnet' && x.reachable && x.single.length);
    const u = p && underlay.find((x) => x.path === p.path);
    if (!p || !u?.single.length) continue;
    out[`${m.mode} throughput`] = pairedRatio(
      p.single.map((r) => r.gbps),
      u.single.map((r) => r.gbps),
    );
    const ca = cpuSamples(p.single);
    const cb = cpuSamples(u.single);
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
  if (base?.single.length)
    out.ratioToUnderlay = pairedRatio(
      single,
      base.single.map((r) => r.gbps),
    );
  const cpu = cpuPerGB([...p.single, ...p.parallel]);
  if (cpu !== undefined) out.cpuSecondsPerGB = cpu;
  const cs = cpuSamples(p.single);
  if (cs.length) out.cpuPerGB = summarize(cs);
  const cb = base ? cpuSamples(base.single) : [];
  if (cs.length && cb.length) out.cpuRatioToUnderlay = pairedRatio(cs, cb);
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
  };
}

export function attachPerf(runs: RunResult[], s: PerfSamples, comparable: boolean): RunResult[] {
  return runs.map((r) => {
    const m = s.modes.find((x) => x.mode === r.mode);
    return m && r.status !== 'skipped' ? { ...r, perf: perfFor(m, s.underlay, comparable) } : r;
  });
}
