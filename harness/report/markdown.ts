// report.md: short enough for a pull-request comment.
import type { ResultsFile, RttStats } from '../results/schema.ts';
import { fin, fmt, pct, pm } from './format.ts';
import { DEFAULT_MARGIN, pairText } from '../stats/pairs.ts';
import {
  captureRows,
  capturesNote,
  daemonCheckRows,
  daemonRows,
  dfCell,
  findingText,
  PHASE_COLUMNS,
  pairMatrix,
  reportData,
  TIME_NOTE,
  timeRows,
} from './rows.ts';

export const VETH_NOTE =
  'A veth lab is not bare metal: every pod hop adds a veth pair (and for flannel a bridge) processed on the same two CPUs as the ' +
  'sender and receiver; the "underlay" is itself veth + bridge at memory speed, so per-packet costs dominate where a NIC would be ' +
  'the bottleneck; VXLAN devices change GSO/TSO segment sizes and add UDP checksums. Ratios here are real for this machine and ' +
  'this kernel, and are usually lower than the NIC-bound figures people cite.';

/** p50 / p99 with their bootstrap intervals when there are any. */
function rttText(r: RttStats | undefined): string {
  if (!r) return '–';
  const ci = (c?: [number, number]) => (c && fin(c[0]) && fin(c[1]) ? ` (${fmt(c[0], 0)}–${fmt(c[1], 0)})` : '');
  return `${fmt(r.p50, 0)}${ci(r.p50ci)} / ${fmt(r.p99, 0)}${ci(r.p99ci)}`;
}

/** Seconds or minutes, for the report's sentences. */
const duration = (ms: number) => (ms < 90_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 60_000).toFixed(1)} min`);

/** Why a ratio missed the target, in numbers: its rounds, the rounds its spread would need, and their time. */
function missedWhy(s: NonNullable<NonNullable<ResultsFile['underlay']>['stop']>, name: string): string {
  const hw = `±${((s.halfWidths[name] ?? Number.NaN) * 100).toFixed(1)}%`;
  const need = s.needed?.[name];
  if (need === undefined || need === null || !Number.isFinite(need)) return `${name} (${hw})`;
  const time = s.roundMs ? `, ~${duration(need * s.roundMs)} at ${duration(s.roundMs)} a round` : '';
  return `${name} (${hw}; its spread needs ~${need} rounds${time})`;
}

/** How the guests and the host shared the machine while measuring: said once. */
function scheduleText(r: ResultsFile): string | undefined {
  const s = r.perfSchedule;
  if (!s) return undefined;
  const budget = s.budgetMs !== undefined ? `The ${duration(s.budgetMs)} budget counts from the start of the run, checks included. ` : '';
  const host = s.hostStartedMs !== undefined ? `The host's rounds began ${duration(s.hostStartedMs)} into the run` : '';
  if (s.guests === 'none') return `**Schedule.** ${budget}${host ? `${host}.` : ''}`.trim();
  if (s.guests === 'alongside')
    return (
      `**Schedule.** ${budget}The guests measured alongside the host: this machine has ${s.cpus} CPUs, enough for the host's ` +
      `pinned sender and receiver and the guests' ${s.guestCpus}.${host ? ` ${host}.` : ''}`
    );
  return (
    `**Schedule.** ${budget}The guests measured first, one at a time, and stopped before the host measured alone: this machine ` +
    `has ${s.cpus} CPUs, too few for the host's pinned sender and receiver and the guests' ${s.guestCpus} (an idle qemu guest ` +
    `keeps ~40% of a core busy).${host ? ` ${host}.` : ''}`
  );
}

/** How the sampling ended and how precise it got: the report states its own stopping rule. */
export function precisionText(r: ResultsFile): string[] {
  const s = r.underlay?.stop;
  const schedule = scheduleText(r);
  if (!s) return schedule ? [schedule] : [];
  const widest = Math.max(...Object.values(s.halfWidths).filter(fin), 0);
  const rule =
    s.why === 'rounds'
      ? `a fixed ${s.rounds} rounds`
      : `short interleaved rounds (each visits the underlay twice and every mode once, in a new random order) until every host ` +
        `ratio's 95% interval is within ±${pct(s.target)} of its value and every two modes are told apart (faster, slower, ` +
        `or equivalent within ±${pct(s.margin ?? DEFAULT_MARGIN)}), or the next round would not fit the budget (at least ` +
        `${r.perfSettings?.rounds ?? 3} rounds)`;
  const out = [
    `**Precision.** Sampling: ${rule}. It stopped after ${s.rounds} rounds in ${Math.round(s.elapsedMs / 1000)} s ` +
      `(${s.why === 'precision' ? 'target reached' : s.why === 'budget' ? 'budget spent' : 'rounds done'}); the widest interval is ` +
      `±${(widest * 100).toFixed(1)}%.`,
  ];
  if (s.missed.length)
    out.push(
      `Missed the target, ${s.why === 'budget' ? 'the budget ran out first (`--budget` gives more time)' : 'too few rounds'}: ` +
        `${s.missed.map((m) => missedWhy(s, m)).join(', ')}.`,
    );
  const undecided = (s.pairs ?? []).filter((p) => p.verdict === 'undecided');
  if (undecided.length)
    out.push(
      `Not told apart, ${s.why === 'budget' ? 'the budget ran out first (`--budget` gives more time)' : 'too few rounds'}: ` +
        `${undecided.map((p) => pairText(p, s.margin ?? DEFAULT_MARGIN)).join('; ')}.`,
    );
  if (schedule) out.push(schedule);
  const cyc = r.underlay?.cycles;
  if (cyc)
    out.push(
      cyc.counted
        ? "Cycles per byte: every CPU's cycles (perf stat -a) during each single-stream test, over the bytes it moved " +
            '(results.json `cyclesPerByte`).'
        : `Cycles per byte: not measured, ${cyc.why}; CPU seconds per GB stands in for it.`,
    );
  if (r.underlay?.labPerMode)
    out.push(
      'Each mode was measured on a lab of its own, built from the same topology for the rounds (the checked lab kept its ' +
        'mode unless it ran an etcd, whose 10 ms ticks would load the cores), so the rounds never wait for a switch; the ' +
        'first test was not kept.',
    );
  out.push(
    r.underlay?.pinned
      ? 'iperf3 sender and receiver were pinned to separate CPUs (-A 0 / -A 1); CPU s/GB is their own accounting, sender + receiver.'
      : 'iperf3 sender and receiver were not pinned (one CPU); CPU s/GB is their own accounting, sender + receiver.',
  );
  return out;
}

const STATUS = { passed: '✅ passed', failed: '❌ failed', skipped: '⏭ skipped' } as const;

/** The table of runs: a row per mode, perf columns and the underlay's row when measured. */
function runsTableMd(d: ReturnType<typeof reportData>): string[] {
  const out: string[] = [];
  out.push(
    d.perf
      ? '| mode | backend | status | pairs | Gbit/s (1 stream) | vs underlay | CPU s/GB | CPU vs underlay | RTT p50 / p99 µs ' +
          '| pod MTU (exp/obs) | max DF payload |'
      : '| mode | backend | status | pairs |',
  );
  out.push(d.perf ? '|---|---|---|---|---|---|---|---|---|---|---|' : '|---|---|---|---|');
  const uSame = d.underlay?.paths?.find((p) => p.path === 'same-subnet');
  if (d.perf && d.underlay?.throughputGbps) {
    out.push(
      `| **underlay** (node to node) | netns | – | – | ${pm(d.underlay.throughputGbps)} | 1.00 | ${pm(uSame?.cpuPerGB, 3)} | 1.00 | ` +
        `${rttText(d.underlay.rttUs)} | – | – |`,
    );
  }
  for (const row of d.runs) {
    const pairs = row.status === 'skipped' ? '–' : `${row.pairsOk}/${row.pairsTotal}`;
    if (!d.perf) {
      out.push(`| ${row.mode} | ${row.backend} | ${STATUS[row.status]} | ${pairs} |`);
      continue;
    }
    const p = row.perf;
    // A guest's ratios are to the underlay measured inside that guest: marked, never mixed with the host's.
    const inGuest = p?.ratioScope === 'guest' ? ' ᵍ' : '';
    const ratio = p?.ratioToUnderlay ? `${pm(p.ratioToUnderlay)}${inGuest}` : '–';
    const cpuRatio = p?.cpuRatioToUnderlay ? `${pm(p.cpuRatioToUnderlay)}${inGuest}` : '–';
    const head = p?.paths?.find((x) => x.path === 'same-subnet') ?? p?.paths?.[0];
    const mtu = p?.mtu ? `${p.mtu.expected} / ${p.mtu.observed}${p.mtu.observed !== p.mtu.expected ? ' ⚠' : ''}` : '–';
    out.push(
      `| ${row.mode} | ${row.backend} | ${STATUS[row.status]} | ${pairs} | ` +
        `${row.comparable ? pm(p?.throughputGbps) : '–'} | ${ratio} | ` +
        `${row.comparable ? pm(p?.cpuPerGB, 3) : '–'} | ${cpuRatio} | ${rttText(head?.rttUs)} | ${mtu} | ` +
        `${p?.mtu ? `${p.mtu.maxDfPayload}${p.mtu.podMtuExceedsPath ? ' ⚠ pod MTU exceeds path' : ''}` : '–'} |`,
    );
  }
  return out;
}

/** The topology's faults, per mode: what each kept and lost. */
function faultsMd(r: ResultsFile): string[] {
  const out: string[] = [];
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
  return out;
}

/** Where the time went, phase by phase. */
function timeMd(r: ResultsFile): string[] {
  const out: string[] = [];
  const timed = timeRows(r);
  if (timed.length) {
    out.push(
      '',
      `**Where the time went** (${TIME_NOTE})`,
      '',
      `| mode | ${PHASE_COLUMNS.map(([, h]) => h).join(' | ')} | total | reply deadline | first contact max |`,
      `|---|${PHASE_COLUMNS.map(() => '---|').join('')}---|---|---|`,
    );
    for (const t of timed) out.push(`| ${t.mode} | ${t.cells.join(' | ')} | ${t.deadline} | ${t.firstContact} |`);
  }
  return out;
}

/** The captures, and the ones that were incomplete. */
function capturesMd(r: ResultsFile): string[] {
  const out: string[] = [];
  const caps = captureRows(r);
  if (caps.total) {
    out.push('', `**Captures** ${capturesNote(caps)}`);
    if (caps.broken.length) {
      out.push('', '| mode | segment | packets | why |', '|---|---|---|---|');
      for (const c of caps.broken) out.push(`| ${c.mode} | ${c.segment} | ${c.counts} | ${c.why} |`);
    }
  }
  return out;
}

/** The real daemons: leases, the model's differences, what a previous backend left. */
function daemonsMd(r: ResultsFile): string[] {
  const out: string[] = [];
  const daemons = daemonRows(r);
  if (daemons.length) {
    out.push(
      '',
      '**Real daemons**',
      '',
      '| mode | daemon | leases | model | differences | left by the previous backend |',
      '|---|---|---|---|---|---|',
    );
    const code = (xs: readonly string[], max: number) =>
      xs
        .slice(0, max)
        .map((x) => `\`${x}\``)
        .concat(xs.length > max ? [`and ${xs.length - max} more in results.json`] : [])
        .join('<br>');
    for (const row of daemons)
      out.push(
        `| ${row.mode} | ${row.daemon} | ${row.leases} | ${row.model} | ` +
          `${row.model.startsWith('none') ? '–' : code(row.differences, 20) || 'none'} | ` +
          `${code(row.leftBehind, 6) || '–'} |`,
      );
  }
  return out;
}

/** What the manifest made through the real kube-apiserver. */
function kubeMd(r: ResultsFile): string[] {
  const out: string[] = [];
  const kube = r.runs.filter((run) => run.daemonFacts?.kube);
  if (kube.length) {
    out.push(
      '',
      '**From the manifest, through the real kube-apiserver**',
      '',
      '| mode | DaemonSet | net-conf.json Backend | flanneld args | Node annotations |',
      '|---|---|---|---|---|',
    );
    for (const run of kube) {
      const k = run.daemonFacts!.kube!;
      out.push(
        `| ${run.mode} | ${k.daemonSet} (${k.apiserver}) | \`${JSON.stringify(k.netConf.backend)}\` ` +
          `${k.netConf.patched ? `patched in ${k.netConf.from}` : `as applied (${k.netConf.from})`} | ` +
          `\`${k.args.join(' ')}\`<br>added: ${k.added.map((a) => `\`${a}\``).join('<br>')} | ` +
          `${Object.entries(k.annotations)
            .map(
              ([n, a]) =>
                `${n}: ${Object.entries(a)
                  .map(([key, v]) => `\`${key.split('/').pop()}=${v}\``)
                  .join(' ')}`,
            )
            .join('<br>')} |`,
      );
    }
  }
  return out;
}

/** --perf: which mode is faster, how precise, and against the cited figures. */
function perfComparisonMd(r: ResultsFile, d: ReturnType<typeof reportData>): string[] {
  const out: string[] = [];
  const m = pairMatrix(r);
  if (m.body.length)
    out.push(
      '',
      '### Which mode is faster?',
      '',
      `| ${m.head.join(' | ')} |`,
      `|${m.head.map(() => '---').join('|')}|`,
      ...m.body.map((row) => `| ${row.join(' | ')} |`),
      '',
      ...m.lines.map((l) => `- ${l}`),
    );
  out.push('', ...precisionText(r));
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
      `ᵍ ${d.guestModes.join(', ')} ran in a guest kernel: their ratios are to the underlay measured inside the same guest, ` +
        `and their absolute numbers are not shown next to the host's (an emulated CPU). They are kept out of the cited verdicts.`,
    );
  return out;
}

export function renderMarkdown(r: ResultsFile): string {
  const d = reportData(r);
  const out: string[] = ['## cnilab results', ''];
  if (d.meta) out.push(`${d.title} · kernel ${d.meta.kernel} · ${d.meta.startedAt}`, '');
  if (r.conformance) out.push(...conformanceMarkdown(r.conformance), '');
  out.push(...runsTableMd(d));
  if (d.skipped.length) out.push('', '**Skipped**', ...d.skipped.map((s) => `- ${s.mode}: ${s.reason}`));
  out.push(...faultsMd(r), ...timeMd(r), ...capturesMd(r), ...daemonsMd(r), ...kubeMd(r));
  if (d.failures.length)
    out.push(
      '',
      '**Failures**',
      ...d.failures.slice(0, 10).map((b) => `- ${b.mode}: ${b.text}`),
      ...(d.failures.length > 10 ? [`- and ${d.failures.length - 10} more`] : []),
    );
  if (d.perf) out.push(...perfComparisonMd(r, d));
  return out.join('\n') + '\n';
}

/** The conformance section: verdict, data plane with sources, findings with fixes, paths. */
export function conformanceMarkdown(c: NonNullable<ResultsFile['conformance']>): string[] {
  const out = [`### Conformance: ${c.cni}, ${c.verdict}`, ''];
  out.push(
    'mode' in c.proof
      ? `Proven on the wire with \`${c.proof.mode}\` (${c.proof.real ? 'the real daemon' : "cnilab's model"}).`
      : `Not proven on the wire: ${'skip' in c.proof ? c.proof.skip : ''}.`,
    '',
    '| setting | value | from |',
    '|---|---|---|',
  );
  for (const [k, v] of Object.entries(c.dataPlane)) out.push(`| ${k} | ${v.value} | ${v.default ? `default (${v.at})` : v.at} |`);
  if (c.findings.length) {
    out.push('', '| severity | rule | where | finding | fix |', '|---|---|---|---|---|');
    for (const f of c.findings) out.push(`| ${f.severity} | ${f.rule} | ${f.at} | ${findingText(f)} | ${f.fix} |`);
  }
  const checked = daemonCheckRows(c);
  if (checked) {
    out.push('', `${checked.title}.`, '', '| setting | conform read | the daemon programmed | |', '|---|---|---|---|');
    for (const r of checked.rows) out.push(`| ${r.join(' | ')} |`);
  }
  out.push('', "| path | does | intended | on the wire | DF packet of the pods' MTU |", '|---|---|---|---|---|');
  for (const p of c.paths)
    out.push(
      `| ${p.path} | ${p.does} | ${p.intended ? `${p.intended.want} ${p.intended.ok ? '✓' : '✗'}` : '–'} | ` +
        `${p.wire ? `${p.wire.ok}/${p.wire.pairs} pairs` : 'not run'} | ${dfCell(p)} |`,
    );
  return out;
}
