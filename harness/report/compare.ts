// Two results files side by side: what changed, and whether a performance change is larger than
// the noise of the two runs (Welch's t-test on the per-run samples).
import type { ResultsFile, RunResult } from '../results/schema.ts';
import { differenceOfMeans } from '../stats/precision.ts';
import { welch } from '../stats/stats.ts';
import { fmt } from './format.ts';

export type Verdict = 'faster' | 'slower' | 'within noise' | 'not comparable';

/** A pair whose verdict changed between the two runs. */
export interface PairChange {
  src: string;
  dst: string;
  before: boolean;
  after: boolean;
  /** Why it fails now, when it does. */
  mismatch?: string;
}

export interface ModeComparison {
  mode: string;
  status: [string, string];
  pairChanges: PairChange[];
  throughput?: { a: number; b: number; change: number; p: number; verdict: Verdict };
  rttP50?: { a: number; b: number; change: number };
  mtu?: { a: number; b: number };
}

export interface Comparison {
  modes: ModeComparison[];
  onlyInA: string[];
  onlyInB: string[];
}

/** A change is claimed only when the 95% interval of the difference (Welch) excludes zero. */
export function verdict(a: readonly number[], b: readonly number[]): { p: number; change: number; verdict: Verdict } {
  const ma = a.reduce((s, v) => s + v, 0) / a.length;
  const mb = b.reduce((s, v) => s + v, 0) / b.length;
  const change = (mb - ma) / ma;
  const { p } = welch(a, b);
  const d = differenceOfMeans(a, b);
  if (!Number.isFinite(p) || !Number.isFinite(d.ci95)) return { p, change, verdict: 'not comparable' };
  return { p, change, verdict: d.lo > 0 ? 'faster' : d.hi < 0 ? 'slower' : 'within noise' };
}

const key = (r: RunResult) => `${r.mode}@${r.backend}`;

export function compareResults(a: ResultsFile, b: ResultsFile): Comparison {
  const am = new Map(a.runs.map((r) => [key(r), r]));
  const bm = new Map(b.runs.map((r) => [key(r), r]));
  const modes: ModeComparison[] = [];
  for (const [k, ra] of am) {
    const rb = bm.get(k);
    if (!rb) continue;
    const c: ModeComparison = { mode: k, status: [ra.status, rb.status], pairChanges: [] };
    for (const pa of ra.pairs) {
      const pb = rb.pairs.find((x) => x.src === pa.src && x.dst === pa.dst);
      if (pb && pa.ok !== pb.ok)
        c.pairChanges.push({ src: pa.src, dst: pa.dst, before: pa.ok, after: pb.ok, ...(pb.mismatch ? { mismatch: pb.mismatch } : {}) });
    }
    const ta = ra.perf?.throughputGbps?.samples;
    const tb = rb.perf?.throughputGbps?.samples;
    if (ta?.length && tb?.length) {
      const v = verdict(ta, tb);
      c.throughput = {
        a: ra.perf!.throughputGbps!.mean,
        b: rb.perf!.throughputGbps!.mean,
        change: v.change,
        p: v.p,
        verdict: ra.perf?.comparable === false || rb.perf?.comparable === false ? 'not comparable' : v.verdict,
      };
    }
    const qa = ra.perf?.rttUs?.p50;
    const qb = rb.perf?.rttUs?.p50;
    if (qa !== undefined && qb !== undefined) c.rttP50 = { a: qa, b: qb, change: (qb - qa) / qa };
    if (ra.perf?.mtu && rb.perf?.mtu && ra.perf.mtu.observed !== rb.perf.mtu.observed)
      c.mtu = { a: ra.perf.mtu.observed, b: rb.perf.mtu.observed };
    modes.push(c);
  }
  return { modes, onlyInA: [...am.keys()].filter((k) => !bm.has(k)), onlyInB: [...bm.keys()].filter((k) => !am.has(k)) };
}

export function hasRegression(c: Comparison): boolean {
  return c.modes.some(
    (m) =>
      (m.status[0] === 'passed' && m.status[1] === 'failed') || m.throughput?.verdict === 'slower' || m.pairChanges.some((p) => !p.after),
  );
}

export function renderComparison(c: Comparison): string {
  const lines: string[] = [];
  for (const m of c.modes) {
    const head = `${m.mode}: ${m.status[0] === m.status[1] ? m.status[0] : `${m.status[0]} -> ${m.status[1]}`}`;
    const t = m.throughput
      ? `; throughput ${fmt(m.throughput.a)} -> ${fmt(m.throughput.b)} Gbit/s ` +
        `(${m.throughput.change >= 0 ? '+' : ''}${(m.throughput.change * 100).toFixed(1)}%, p=${fmt(m.throughput.p, 3)}): ` +
        `${m.throughput.verdict}`
      : '';
    const r = m.rttP50 ? `; RTT p50 ${fmt(m.rttP50.a, 0)} -> ${fmt(m.rttP50.b, 0)} µs` : '';
    const mtu = m.mtu ? `; pod MTU ${m.mtu.a} -> ${m.mtu.b}` : '';
    lines.push(
      head + t + r + mtu,
      ...m.pairChanges.map(
        (p) => `    ${p.src} -> ${p.dst}: ${p.before ? 'ok' : 'MISMATCH'} -> ${p.after ? 'ok' : `MISMATCH (${p.mismatch})`}`,
      ),
    );
  }
  if (c.onlyInA.length) lines.push(`only in the first: ${c.onlyInA.join(', ')}`);
  if (c.onlyInB.length) lines.push(`only in the second: ${c.onlyInB.join(', ')}`);
  return lines.join('\n');
}
