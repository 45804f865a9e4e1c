// From raw samples to the `perf` objects of results.json: statistics per path, ratios to the
// underlay measured in the same run, CPU per GB, MTU verdicts.
import type { Perf, PerfForPath, ResultsFile, RunResult } from '../results/schema.ts';
import { jitter, mean, percentile, ratioOfMeans, summarize } from '../stats/stats.ts';
import type { ModeSamples, PathSamples, PerfSamples } from '../results/samples.ts';

function rtt(us: readonly number[]) {
  return {
    p50: percentile(us, 50),
    p90: percentile(us, 90),
    p99: percentile(us, 99),
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

export function summarizePath(p: PathSamples, base: PathSamples | undefined): PerfForPath {
  const single = p.single.map((r) => r.gbps);
  const out: PerfForPath = { path: p.path, src: p.src, dst: p.dst, reachable: p.reachable };
  if (!p.reachable || single.length === 0) return out;
  out.throughputGbps = summarize(single);
  if (p.parallel.length) out.throughputGbpsParallel = summarize(p.parallel.map((r) => r.gbps));
  if (p.rttUs.length) out.rttUs = rtt(p.rttUs);
  if (base?.single.length)
    out.ratioToUnderlay = ratioOfMeans(
      single,
      base.single.map((r) => r.gbps),
    );
  const cpu = cpuPerGB([...p.single, ...p.parallel]);
  if (cpu !== undefined) out.cpuSecondsPerGB = cpu;
  return out;
}

/** The headline numbers of a mode come from its same-subnet path: every mode reaches it. */
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
  if (comparable && head?.ratioToUnderlay) perf.ratioToUnderlay = head.ratioToUnderlay;
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
  };
}

export function attachPerf(runs: RunResult[], s: PerfSamples, comparable: boolean): RunResult[] {
  return runs.map((r) => {
    const m = s.modes.find((x) => x.mode === r.mode);
    return m && r.status !== 'skipped' ? { ...r, perf: perfFor(m, s.underlay, comparable) } : r;
  });
}
