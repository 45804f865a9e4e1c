// report.html: one self-contained file (inline CSS and SVG, no scripts, nothing fetched).
import type { ResultsFile } from '../results/schema.ts';
import { escapeXml as x, fin, fmt, pct, pm } from './format.ts';
import { precisionText, VETH_NOTE } from './markdown.ts';
import {
  captureRows,
  capturesNote,
  daemonCheckRows,
  daemonRows,
  dfCell,
  familyColour,
  familyLegend,
  findingText,
  PHASE_COLUMNS,
  pathWrong,
  reportData,
  TIME_NOTE,
  pairMatrix,
  timeRows,
} from './rows.ts';
import { barChart, type Row } from './svg.ts';

const tr = (cells: readonly string[]) => `<tr>${cells.map((c) => `<td>${x(c)}</td>`).join('')}</tr>`;
const more = (n: number) => (n > 0 ? `<li>and ${n} more</li>` : '');

function figure(svg: string, caption: string): string {
  return `<figure>${svg}<figcaption>${x(caption)}</figcaption></figure>`;
}

/** What a mode costs against the underlay: its CPU-per-GB ratio, else the inverse of its throughput ratio. */
const cost = (run: ResultsFile['runs'][number]) =>
  run.perf?.cpuRatioToUnderlay?.mean ?? (run.perf?.ratioToUnderlay?.mean ? 1 / run.perf.ratioToUnderlay.mean : Infinity);

/** Throughput and CPU per GB against the underlay, cheapest mode first. */
function costChart(r: ResultsFile, perfRuns: ResultsFile['runs']): string {
  const comparable = perfRuns.filter((run) => run.perf?.comparable !== false);
  const u = r.underlay;
  return figure(
    barChart({
      metric: 'throughput-ratio',
      unit: 'against the underlay (1 stream), 95% CI',
      series: [
        { name: 'throughput', color: '#2a6fdb' },
        { name: 'CPU per GB', color: '#d4a72c' },
      ],
      reference: { value: 1, label: 'underlay' },
      // Sorted by cost: the cheapest mode first, by CPU per GB (on a CPU-bound machine the tighter
      // measure of it), by throughput where CPU was not measured.
      rows: [...comparable]
        .sort((a, b) => cost(a) - cost(b))
        .map((run) => ({
          label: run.mode,
          bars: [
            { series: 'throughput', value: run.perf?.ratioToUnderlay?.mean, ci: run.perf?.ratioToUnderlay?.ci95 ?? null },
            { series: 'CPU per GB', value: run.perf?.cpuRatioToUnderlay?.mean, ci: run.perf?.cpuRatioToUnderlay?.ci95 ?? null },
          ],
        })),
    }),
    `Throughput and CPU seconds per GB relative to the bare underlay measured in the same rounds ` +
      `(${pm(u?.throughputGbps)} Gbit/s node to node), cheapest first: throughput below 1 and CPU per GB above 1 are the ` +
      `mode's cost. Whiskers: 95% confidence interval.`,
  );
}

type Perf = ResultsFile['runs'][number]['perf'];

/** A chart's rows: the underlay's first (when measured), then a row per mode (a guest's marked with its backend). */
function withUnderlay(underlay: Row['bars'] | undefined, perfRuns: ResultsFile['runs'], bars: (p: Perf) => Row['bars']): Row[] {
  return [
    ...(underlay ? [{ label: 'underlay', bars: underlay }] : []),
    ...perfRuns.map((run) => ({
      label: `${run.mode}${run.perf?.comparable === false ? ` (${run.backend})` : ''}`,
      bars: bars(run.perf),
    })),
  ];
}

/** RTT percentiles per mode, the underlay first. */
function rttChart(r: ResultsFile, perfRuns: ResultsFile['runs']): string {
  const u = r.underlay;
  const rttRows = withUnderlay(
    u?.rttUs && [
      { series: 'p50', value: u.rttUs.p50 },
      { series: 'p90', value: u.rttUs.p90 },
      { series: 'p99', value: u.rttUs.p99 },
    ],
    perfRuns,
    (p) => [
      { series: 'p50', value: p?.rttUs?.p50 },
      { series: 'p90', value: p?.rttUs?.p90 },
      { series: 'p99', value: p?.rttUs?.p99 },
    ],
  );
  return figure(
    barChart({
      metric: 'rtt',
      unit: 'round-trip time, µs',
      digits: 0,
      series: [
        { name: 'p50', color: '#7aa6e8' },
        { name: 'p90', color: '#2a6fdb' },
        { name: 'p99', color: '#17407f' },
      ],
      rows: rttRows,
    }),
    'RTT percentiles pod to pod (same subnet), ICMP echo every 5 ms.',
  );
}

/** Absolute TCP throughput per mode, one stream and parallel. */
function throughputChart(r: ResultsFile, perfRuns: ResultsFile['runs']): string {
  const u = r.underlay;
  const same = (p: Perf) => p?.paths?.find((x) => x.path === 'same-subnet')?.throughputGbpsParallel;
  const thRows = withUnderlay(
    u?.throughputGbps && [
      { series: '1 stream', value: u.throughputGbps.mean, ci: u.throughputGbps.ci95 },
      { series: 'parallel', value: u.throughputGbpsParallel?.mean, ci: u.throughputGbpsParallel?.ci95 ?? null },
    ],
    perfRuns,
    (p) => [
      { series: '1 stream', value: p?.throughputGbps?.mean, ci: p?.throughputGbps?.ci95 ?? null },
      { series: 'parallel', value: same(p)?.mean, ci: same(p)?.ci95 ?? null },
    ],
  );
  return figure(
    barChart({
      metric: 'throughput',
      unit: 'TCP throughput, Gbit/s (iperf3), 95% CI',
      series: [
        { name: '1 stream', color: '#3c9a5f' },
        { name: 'parallel', color: '#1d5e36' },
      ],
      rows: thRows,
    }),
    'Absolute throughput pod to pod on one subnet; uml runs are not comparable with the host.',
  );
}

/** The pod MTU expected, set, and the largest DF packet that crossed. */
function mtuChart(perfRuns: ResultsFile['runs']): string {
  return figure(
    barChart({
      metric: 'mtu',
      unit: 'bytes',
      digits: 0,
      series: [
        { name: 'expected', color: '#bbbbbb' },
        { name: 'observed', color: '#e66a00' },
        { name: 'max DF packet', color: '#7a3a00' },
      ],
      rows: perfRuns
        .filter((run) => run.perf?.mtu)
        .map((run) => ({
          label: run.mode,
          bars: [
            { series: 'expected', value: run.perf!.mtu!.expected },
            { series: 'observed', value: run.perf!.mtu!.observed },
            { series: 'max DF packet', value: run.perf!.mtu!.maxDfPayload + 28 },
          ],
        })),
    }),
    'Pod MTU the mode must set, the one it set, and the largest packet with DF that crossed end to end.',
  );
}

/** The perf charts, when the run measured. */
function perfCharts(r: ResultsFile): string[] {
  const perfRuns = r.runs.filter((run) => run.perf);
  if (!perfRuns.length) return [];
  return [costChart(r, perfRuns), rttChart(r, perfRuns), throughputChart(r, perfRuns), mtuChart(perfRuns)];
}

/** The runs table: a row per mode (perf columns only when measured), its head. */
function runsTable(d: ReturnType<typeof reportData>): { head: string[]; rows: string[] } {
  const rows = d.runs.map((run) => {
    const cells = [
      `<span class="dot" style="background:${familyColour(run.family)}"></span>${x(run.mode)}`,
      x(run.backend),
      x(run.status),
      run.status === 'skipped' ? '–' : `${run.pairsOk}/${run.pairsTotal}`,
      // Perf columns only when the run measured: a plain run's table has no columns of dashes.
      ...(d.perf
        ? [
            x(pm(run.perf?.throughputGbps)),
            !run.comparable ? 'not comparable' : x(pm(run.perf?.ratioToUnderlay)),
            x(pm(run.perf?.cpuRatioToUnderlay)),
            fmt(run.perf?.rttUs?.p50, 0),
            run.perf?.mtu ? `${run.perf.mtu.expected}/${run.perf.mtu.observed}` : '–',
          ]
        : []),
    ];
    return `<tr class="${run.status}">${cells.map((c) => `<td>${c}</td>`).join('')}<td class="reason">${x(run.reason ?? '')}</td></tr>`;
  });
  const head = [
    'mode',
    'backend',
    'status',
    'pairs ok',
    ...(d.perf ? ['Gbit/s', 'vs underlay', 'CPU vs underlay', 'RTT p50 µs', 'MTU exp/obs'] : []),
    'reason',
  ];
  return { head, rows };
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1000px;color:#1b1f24;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}.meta{color:#57606a;margin-top:0}
table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{padding:.35rem .5rem;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top}
th{background:#f6f8fa}tr.failed td{background:#fff1f0}tr.skipped td{color:#6e7781}td.reason{font-size:12px;color:#57606a;max-width:22rem}
.dot{display:inline-block;width:.7rem;height:.7rem;border-radius:50%;margin-right:.4rem}
figure{margin:1.5rem 0;padding:1rem;border:1px solid #d0d7de;border-radius:6px}figcaption{color:#57606a;font-size:13px;margin-top:.4rem}
svg{color:#2a6fdb}svg .grid{stroke:#eaeef2}svg .tick,svg .axis{font-size:11px;fill:#57606a;text-anchor:middle}
svg .label{font-size:12px;text-anchor:end;fill:#1b1f24}svg .value,svg .note{font-size:10px;fill:#57606a}
svg .whisker{stroke:#1b1f24;stroke-width:1.2;fill:none}svg .ref{stroke:#cf222e;stroke-dasharray:4 3}
svg .reflabel{font-size:11px;fill:#cf222e;text-anchor:middle}svg .legend{font-size:11px;fill:#1b1f24}
.note{color:#57606a}
`;

export function renderHtml(r: ResultsFile): string {
  const d = reportData(r);
  const charts = perfCharts(r);
  const { head, rows } = runsTable(d);
  // A failing mode's captures, linked (relative to the report, as results.json lists them).
  const pcaps = new Map(r.runs.filter((run) => run.status === 'failed').map((run) => [run.mode, run.captures ?? []]));
  const failures = d.failures.map((f) => `<li>${x(f.mode)}: ${x(f.text)}</li>`);
  const pcapLinks = [...pcaps]
    .filter(([, c]) => c.length)
    .map(([mode, c]) => `<li>${x(mode)}: ${c.map((f) => `<a href="${x(f)}">${x(f)}</a>`).join(', ')}</li>`);
  const cited = d.cited.map((c) => [
    c.mode,
    `${pct(c.cost)}${c.lo !== undefined && c.hi !== undefined ? ` (${pct(c.lo)}…${pct(c.hi)})` : ''}`,
    c.cited.text,
    c.verdict,
  ]);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cnilab report: ${x(r.topology.name ?? 'lab')}</title>
<style>${STYLE}</style></head><body>
<h1>cnilab: ${x(r.topology.name ?? 'lab')}</h1>
<p class="meta">${x(
    r.meta
      ? `${r.meta.host} · kernel ${r.meta.kernel} · ` +
          `${r.meta.startedAt}${r.meta.durationMs ? ` · ${(r.meta.durationMs / 1000).toFixed(1)} s` : ''}`
      : '',
  )}${familyLegend(r)
    .map((f) => ` · <span class="dot" style="background:${f.colour}"></span>${x(f.label)}`)
    .join('')}</p>
${r.conformance ? conformanceHtml(r.conformance) : ''}
<table><thead><tr>${head.map((h) => `<th>${x(h)}</th>`).join('')}</tr></thead><tbody>
${rows.join('\n')}
</tbody></table>
${d.skipped.length ? `<h2>Skipped</h2><ul>${d.skipped.map((k) => `<li>${x(k.mode)}: ${x(k.reason)}</li>`).join('')}</ul>` : ''}
${failures.length ? `<h2>Failures</h2><ul>${failures.slice(0, 50).join('')}${more(failures.length - 50)}</ul>` : ''}
${pcapLinks.length ? `<h2>Captures of the failing modes</h2><ul>${pcapLinks.join('')}</ul>` : ''}
${sectionsHtml(r)}
${charts.join('\n')}
${pairsHtml(r)}
${
  d.perf
    ? precisionText(r)
        .map((t) => `<p class="note">${x(t.replaceAll('**', ''))}</p>`)
        .join('\n')
    : ''
}
${
  cited.length
    ? `<h2>Against the widely cited figures</h2><table><thead><tr><th>mode</th><th>measured cost</th><th>cited</th>` +
      `<th>verdict</th></tr></thead><tbody>${cited.map(tr).join('')}</tbody></table><p class="note">${x(VETH_NOTE)}</p>`
    : ''
}
${fin(r.underlay?.seed) ? `<p class="note">Measurement order shuffled per round (seed ${r.underlay!.seed}).</p>` : ''}
</body></html>
`;
}

/** "Which mode is faster?": the same matrix and sentences as report.md. */
function pairsHtml(r: ResultsFile): string {
  const m = pairMatrix(r);
  if (!m.body.length) return '';
  return (
    `<h2>Which mode is faster?</h2><table><thead><tr>${m.head.map((h) => `<th>${x(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${m.body.map(tr).join('')}</tbody></table><ul>${m.lines.map((l) => `<li>${x(l)}</li>`).join('')}</ul>`
  );
}

/** The sections report.md has besides the summary, from the same rows: faults, time, real daemons, the manifest. */
function sectionsHtml(r: ResultsFile): string {
  const table = (head: readonly string[], body: readonly (readonly string[])[]) =>
    `<table><thead><tr>${head.map((h) => `<th>${x(h)}</th>`).join('')}</tr></thead><tbody>` +
    `${body.map((cells) => `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  const list = (xs: readonly string[]) => (xs.length ? xs.map((v) => `<code>${x(v)}</code>`).join('<br>') : '–');
  const out: string[] = [];
  const faults = r.runs.flatMap((run) => (run.faults ?? []).map((f) => ({ run, f })));
  if (faults.length)
    out.push(
      '<h2>Faults</h2>',
      table(
        ['mode', 'fault', 'status', 'pairs kept', 'lost', 'probes lost', 'RTT before → under (ms)'],
        faults.map(({ run, f }) => [
          x(run.mode),
          x(`${f.name} (${f.kind} on ${f.link})`),
          x(`${f.status}${f.reason ? `: ${f.reason}` : ''}`),
          String(f.kept),
          String(f.lost.length),
          `${f.lossPercent}%`,
          x(`${fmt(f.rttMs.before, 3)} → ${fmt(f.rttMs.under, 3)}`),
        ]),
      ),
    );
  const timed = timeRows(r);
  if (timed.length)
    out.push(
      `<h2>Where the time went</h2><p class="note">${x(TIME_NOTE)}</p>`,
      table(
        ['mode', ...PHASE_COLUMNS.map(([, h]) => h), 'total', 'reply deadline', 'first contact max'],
        timed.map((t) => [x(t.mode), ...t.cells.map(x), x(t.deadline), x(t.firstContact)]),
      ),
    );
  const caps = captureRows(r);
  if (caps.total)
    out.push(
      `<h2>Captures</h2><p class="note">${x(capturesNote(caps))}</p>`,
      caps.broken.length
        ? table(
            ['mode', 'segment', 'packets', 'why'],
            caps.broken.map((c) => [x(c.mode), x(c.segment), x(c.counts), x(c.why)]),
          )
        : '',
    );
  const daemons = daemonRows(r);
  if (daemons.length)
    out.push(
      '<h2>Real daemons</h2>',
      table(
        ['mode', 'daemon', 'leases', 'model', 'differences', 'left by the previous backend'],
        daemons.map((d) => [
          x(d.mode),
          x(d.daemon),
          x(d.leases),
          x(d.model),
          d.model.startsWith('none') ? '–' : d.differences.length ? list(d.differences) : 'none',
          list(d.leftBehind),
        ]),
      ),
    );
  const kube = r.runs.filter((run) => run.daemonFacts?.kube);
  if (kube.length)
    out.push(
      '<h2>From the manifest, through the real kube-apiserver</h2>',
      table(
        ['mode', 'DaemonSet', 'net-conf.json Backend', 'flanneld args', 'added'],
        kube.map((run) => {
          const k = run.daemonFacts!.kube!;
          return [
            x(run.mode),
            x(`${k.daemonSet} (${k.apiserver})`),
            x(
              `${JSON.stringify(k.netConf.backend)} ` +
                (k.netConf.patched ? `patched in ${k.netConf.from}` : `as applied (${k.netConf.from})`),
            ),
            `<code>${x(k.args.join(' '))}</code>`,
            list(k.added),
          ];
        }),
      ),
    );
  return out.join('\n');
}

/** cnilab conform's verdict, data plane with sources, findings with fixes and paths, as tables. */
function conformanceHtml(c: NonNullable<ResultsFile['conformance']>): string {
  const td = (v: unknown) => `<td>${x(String(v))}</td>`;
  const proof =
    'mode' in c.proof
      ? `Proven on the wire with ${c.proof.mode} (${c.proof.real ? 'the real daemon' : "cnilab's model"}).`
      : `Not proven on the wire: ${c.proof.skip}.`;
  const plane = Object.entries(c.dataPlane)
    .map(([k, v]) => `<tr>${td(k)}${td(v.value)}${td(v.default ? `default (${v.at})` : v.at)}</tr>`)
    .join('');
  const findings = c.findings
    .map(
      (f) =>
        `<tr class="${f.severity === 'error' ? 'failed' : ''}">` +
        `${td(f.severity)}${td(f.rule)}${td(f.at)}${td(findingText(f))}${td(f.fix)}</tr>`,
    )
    .join('');
  const paths = c.paths
    .map((p) => {
      const bad = pathWrong(p);
      const intended = p.intended ? `${p.intended.want} ${p.intended.ok ? '✓' : '✗'}` : '–';
      const wire = p.wire ? `${p.wire.ok}/${p.wire.pairs} pairs` : 'not run';
      return `<tr class="${bad ? 'failed' : ''}">${td(p.path)}${td(p.does)}${td(intended)}${td(wire)}${td(dfCell(p))}</tr>`;
    })
    .join('');
  const checked = daemonCheckRows(c);
  const daemonTable = checked
    ? `<p class="note">${x(checked.title)}.</p><table><thead><tr><th>setting</th><th>conform read</th>` +
      `<th>the daemon programmed</th><th></th></tr></thead><tbody>` +
      checked.rows.map((r) => `<tr class="${r[3] === '✗' ? 'failed' : ''}">${r.map(td).join('')}</tr>`).join('') +
      '</tbody></table>'
    : '';
  return (
    `<h2>Conformance: ${x(c.cni)}, ${x(c.verdict)}</h2><p class="note">${x(proof)}</p>` +
    `<table><thead><tr><th>setting</th><th>value</th><th>from</th></tr></thead><tbody>${plane}</tbody></table>` +
    (findings
      ? '<table><thead><tr><th>severity</th><th>rule</th><th>where</th><th>finding</th><th>fix</th></tr></thead>' +
        `<tbody>${findings}</tbody></table>`
      : '<p>No findings.</p>') +
    daemonTable +
    `<table><thead><tr><th>path</th><th>does</th><th>intended</th><th>on the wire</th><th>DF packet of the pods' MTU</th></tr></thead>` +
    `<tbody>${paths}</tbody></table>`
  );
}
