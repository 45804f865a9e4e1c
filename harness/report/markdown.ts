// report.md: short enough for a pull-request comment.
import type { ResultsFile } from '../results/schema.ts';
import { citedCost, fin, fmt, pct, pm } from './format.ts';

export const VETH_NOTE =
  'A veth lab is not bare metal: every pod hop adds a veth pair (and for flannel a bridge) processed on the same two CPUs as the sender and receiver; the "underlay" is itself veth + bridge at memory speed, so per-packet costs dominate where a NIC would be the bottleneck; VXLAN devices change GSO/TSO segment sizes and add UDP checksums. Ratios here are real for this machine and this kernel, and are usually lower than the NIC-bound figures people cite.';

export function renderMarkdown(r: ResultsFile): string {
  const out: string[] = ['## cnilab results', ''];
  if (r.meta) out.push(`${r.topology.name ?? 'lab'} · kernel ${r.meta.kernel} · ${r.meta.startedAt}`, '');
  const perf = r.runs.some((x) => x.perf);
  out.push(perf ? '| mode | backend | status | pairs | Gbit/s (1 stream) | vs underlay | RTT p50 / p99 µs | pod MTU (exp/obs) | max DF payload |' : '| mode | backend | status | pairs |');
  out.push(perf ? '|---|---|---|---|---|---|---|---|---|' : '|---|---|---|---|');
  if (perf && r.underlay?.throughputGbps) {
    out.push(`| **underlay** (node to node) | netns | – | – | ${pm(r.underlay.throughputGbps)} | 1.00 | ${fmt(r.underlay.rttUs?.p50, 0)} / ${fmt(r.underlay.rttUs?.p99, 0)} | – | – |`);
  }
  for (const run of r.runs) {
    const pairs = run.status === 'skipped' ? '–' : `${run.pairs.filter((p) => p.ok).length}/${run.pairs.length}`;
    const status = run.status === 'passed' ? '✅ passed' : run.status === 'failed' ? '❌ failed' : '⏭ skipped';
    if (!perf) {
      out.push(`| ${run.mode} | ${run.backend} | ${status} | ${pairs} |`);
      continue;
    }
    const p = run.perf;
    const ratio = p?.comparable === false ? 'n/c (uml)' : p?.ratioToUnderlay ? pm(p.ratioToUnderlay) : '–';
    const mtu = p?.mtu ? `${p.mtu.expected} / ${p.mtu.observed}${p.mtu.observed !== p.mtu.expected ? ' ⚠' : ''}` : '–';
    out.push(`| ${run.mode} | ${run.backend} | ${status} | ${pairs} | ${pm(p?.throughputGbps)} | ${ratio} | ${fmt(p?.rttUs?.p50, 0)} / ${fmt(p?.rttUs?.p99, 0)} | ${mtu} | ${p?.mtu ? `${p.mtu.maxDfPayload}${p.mtu.podMtuExceedsPath ? ' ⚠ pod MTU exceeds path' : ''}` : '–'} |`);
  }
  const skipped = r.runs.filter((x) => x.status === 'skipped');
  if (skipped.length) out.push('', '**Skipped**', ...skipped.map((s) => `- ${s.mode}: ${s.reason}`));
  const bad = r.runs.flatMap((run) => [...(run.status === 'failed' && run.reason ? [`${run.mode}: ${run.reason}`] : []), ...run.pairs.filter((p) => !p.ok).map((p) => `${run.mode}: ${p.src} → ${p.dst} (${p.path}): ${p.mismatch}`)]);
  if (bad.length) out.push('', '**Failures**', ...bad.slice(0, 10).map((b) => `- ${b}`), ...(bad.length > 10 ? [`- and ${bad.length - 10} more`] : []));
  if (perf) {
    out.push('', '### Against the widely cited figures', '', '| mode | measured cost vs underlay | cited | verdict |', '|---|---|---|---|');
    for (const run of r.runs) {
      const q = run.perf?.ratioToUnderlay;
      if (!q || run.perf?.comparable === false) continue;
      const cost = 1 - q.mean;
      const c = citedCost(run.mode);
      const lo = fin(q.ci95) ? cost - q.ci95 : NaN;
      const hi = fin(q.ci95) ? cost + q.ci95 : NaN;
      const verdict = !fin(q.ci95) ? 'too few samples' : hi < c.lo ? 'cheaper than cited' : lo > c.hi ? 'costlier than cited' : 'within the cited range';
      out.push(`| ${run.mode} | ${pct(cost)}${fin(q.ci95) ? ` (${pct(lo)}…${pct(hi)})` : ''} | ${c.text} | ${verdict} |`);
    }
    out.push('', VETH_NOTE);
    const uml = r.runs.filter((x) => x.perf?.comparable === false);
    if (uml.length) out.push('', `Runs in User-Mode Linux (${uml.map((x) => x.mode).join(', ')}) are shown but kept out of the ratios: one virtual CPU and ptrace-driven syscalls make their timings incomparable with the host's.`);
  }
  return out.join('\n') + '\n';
}
