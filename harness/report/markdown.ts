// report.md: short enough for a pull-request comment.
import type { ResultsFile } from '../results/schema.ts';
import { fmt, pct, pm } from './format.ts';
import { reportData } from './rows.ts';

export const VETH_NOTE =
  'A veth lab is not bare metal: every pod hop adds a veth pair (and for flannel a bridge) processed on the same two CPUs as the ' +
  'sender and receiver; the "underlay" is itself veth + bridge at memory speed, so per-packet costs dominate where a NIC would be ' +
  'the bottleneck; VXLAN devices change GSO/TSO segment sizes and add UDP checksums. Ratios here are real for this machine and ' +
  'this kernel, and are usually lower than the NIC-bound figures people cite.';

const STATUS = { passed: '✅ passed', failed: '❌ failed', skipped: '⏭ skipped' } as const;

export function renderMarkdown(r: ResultsFile): string {
  const d = reportData(r);
  const out: string[] = ['## cnilab results', ''];
  if (d.meta) out.push(`${d.title} · kernel ${d.meta.kernel} · ${d.meta.startedAt}`, '');
  out.push(
    d.perf
      ? '| mode | backend | status | pairs | Gbit/s (1 stream) | vs underlay | RTT p50 / p99 µs | pod MTU (exp/obs) | max DF payload |'
      : '| mode | backend | status | pairs |',
  );
  out.push(d.perf ? '|---|---|---|---|---|---|---|---|---|' : '|---|---|---|---|');
  if (d.perf && d.underlay?.throughputGbps) {
    out.push(
      `| **underlay** (node to node) | netns | – | – | ${pm(d.underlay.throughputGbps)} | 1.00 | ${fmt(d.underlay.rttUs?.p50, 0)} / ` +
        `${fmt(d.underlay.rttUs?.p99, 0)} | – | – |`,
    );
  }
  for (const row of d.runs) {
    const pairs = row.status === 'skipped' ? '–' : `${row.pairsOk}/${row.pairsTotal}`;
    if (!d.perf) {
      out.push(`| ${row.mode} | ${row.backend} | ${STATUS[row.status]} | ${pairs} |`);
      continue;
    }
    const p = row.perf;
    const ratio = !row.comparable ? `n/c (${row.backend})` : p?.ratioToUnderlay ? pm(p.ratioToUnderlay) : '–';
    const mtu = p?.mtu ? `${p.mtu.expected} / ${p.mtu.observed}${p.mtu.observed !== p.mtu.expected ? ' ⚠' : ''}` : '–';
    out.push(
      `| ${row.mode} | ${row.backend} | ${STATUS[row.status]} | ${pairs} | ${pm(p?.throughputGbps)} | ${ratio} | ` +
        `${fmt(p?.rttUs?.p50, 0)} / ${fmt(p?.rttUs?.p99, 0)} | ${mtu} | ` +
        `${p?.mtu ? `${p.mtu.maxDfPayload}${p.mtu.podMtuExceedsPath ? ' ⚠ pod MTU exceeds path' : ''}` : '–'} |`,
    );
  }
  if (d.skipped.length) out.push('', '**Skipped**', ...d.skipped.map((s) => `- ${s.mode}: ${s.reason}`));
  const faults = r.runs.flatMap((run) => (run.faults ?? []).map((f) => ({ run, f })));
  if (faults.length) {
    out.push(
      '',
      '**Faults**',
      '',
      '| mode | fault | status | pairs kept | lost | probes lost | RTT before → under (ms) |',
      '|---|---|---|---|---|---|---|',
    );
    for (const { run, f } of faults) {
      const rtt = `${fmt(f.rttMs.before, 3)} → ${fmt(f.rttMs.under, 3)}`;
      out.push(
        `| ${run.mode} | ${f.name} (${f.kind} on ${f.link}) | ${f.status}${f.reason ? `: ${f.reason}` : ''} | ${f.kept} | ` +
          `${f.lost.length} | ${f.lossPercent}% | ${rtt} |`,
      );
    }
  }
  const daemons = r.runs.filter((run) => run.daemon);
  if (daemons.length) {
    out.push(
      '',
      '**Real daemons**',
      '',
      '| mode | daemon | leases | model | differences | left by the previous backend |',
      '|---|---|---|---|---|---|',
    );
    for (const run of daemons) {
      const dd = { name: run.daemon!, leases: {}, leftBehind: undefined as string[] | undefined, ...run.daemonFacts };
      const m = run.modelDiff;
      out.push(
        `| ${run.mode} | ${dd.name} | ${Object.entries(dd.leases)
          .map(([n, l]) => `${n} ${l}`)
          .join(', ')} | ${m ? `${m.model} (${m.compared} facts)` : 'none: checked on the wire only'} | ` +
          `${m ? m.differences.map((x) => `${x.node}, only in the ${x.only}: \`${x.fact}\``).join('<br>') || 'none' : '–'} | ` +
          `${
            (dd.leftBehind ?? [])
              .slice(0, 6)
              .map((x) => `\`${x}\``)
              .concat((dd.leftBehind?.length ?? 0) > 6 ? [`and ${dd.leftBehind!.length - 6} more in results.json`] : [])
              .join('<br>') || '–'
          } |`,
      );
    }
  }
  if (d.failures.length)
    out.push(
      '',
      '**Failures**',
      ...d.failures.slice(0, 10).map((b) => `- ${b.mode}: ${b.text}`),
      ...(d.failures.length > 10 ? [`- and ${d.failures.length - 10} more`] : []),
    );
  if (d.perf) {
    out.push('', '### Against the widely cited figures', '', '| mode | measured cost vs underlay | cited | verdict |', '|---|---|---|---|');
    for (const c of d.cited)
      out.push(
        `| ${c.mode} | ${pct(c.cost)}${c.lo !== undefined && c.hi !== undefined ? ` (${pct(c.lo)}…${pct(c.hi)})` : ''} | ` +
          `${c.cited.text} | ${c.verdict} |`,
      );
    out.push('', VETH_NOTE);
    if (d.guestModes.length)
      out.push(
        '',
        `Runs in a guest kernel (${d.guestModes.join(', ')}) are shown but kept out of the ratios: an emulated CPU makes their ` +
          `timings incomparable with the host's.`,
      );
  }
  return out.join('\n') + '\n';
}
