// Results fixtures for report tests: realistic shapes, deterministic numbers.
import type { PairResult, ResultsFile, RunResult } from '../results/schema.ts';
import { summarize } from '../stats/stats.ts';

export function pair(over: Partial<PairResult> = {}): PairResult {
  return {
    src: 'n1/p1',
    dst: 'n3/p1',
    path: 'cross-subnet',
    expected: { reachable: true, encap: 'vxlan', vni: 1, port: 8472 },
    observed: { reachable: true, encap: 'vxlan', vni: 1, port: 8472, rttMs: 0.03 },
    ok: true,
    ...over,
  };
}

export function run(mode: string, gbps: number[], over: Partial<RunResult> = {}): RunResult {
  return {
    mode,
    backend: 'netns',
    status: 'passed',
    pairs: [pair(), pair({ src: 'n1/p1', dst: 'n2/p1', path: 'same-subnet' })],
    perf: {
      comparable: true,
      throughputGbps: summarize(gbps),
      rttUs: { p50: 10, p90: 14, p99: 30 },
      ratioToUnderlay: { mean: gbps.reduce((a, b) => a + b, 0) / gbps.length / 20, ci95: 0.02 },
      mtu: { expected: 1450, observed: 1450, maxDfPayload: 1422, pathMtu: 1450, podMtuExceedsPath: false },
      paths: [],
    },
    ...over,
  };
}

export function results(runs: RunResult[]): ResultsFile {
  return {
    topology: { name: 'two-subnets', nodes: [{ name: 'n1', subnet: 'a', underlayIp: '172.31.10.11' }] },
    runs,
    underlay: { throughputGbps: summarize([20, 20.5, 19.5]), rttUs: { p50: 5, p90: 7, p99: 12, mean: 6, jitter: 1, samples: 200 } },
    meta: { cnilab: '0.1.0', startedAt: '2026-11-22T00:00:00Z', host: 'test', kernel: '6.1' },
  };
}
