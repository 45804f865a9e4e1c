// The rows every report shows, computed once from results.json: Markdown, HTML, JUnit and compare
// render these; none of them reads another's text.
import { findMode } from '../modes/registry.ts';
import { type CitedCost, type Family, FAMILY_STYLE } from '../modes/mode.ts';
import type { Perf, Phase, ResultsFile, RunResult } from '../results/schema.ts';
import { DEFAULT_MARGIN, pairText } from '../stats/pairs.ts';
import { type CitedVerdict, citedVerdict } from '../stats/precision.ts';
import { fin } from './format.ts';

export interface RunRow {
  mode: string;
  backend: string;
  family: string | undefined;
  status: RunResult['status'];
  pairsOk: number;
  pairsTotal: number;
  reason?: string;
  perf?: Perf;
  /** Timings inside a guest cannot be set against the host's. */
  comparable: boolean;
}

export interface FailureRow {
  mode: string;
  text: string;
}

export interface CitedRow {
  mode: string;
  /** 1 - throughput ratio, with its 95% interval when there was more than one round. */
  cost: number;
  lo?: number;
  hi?: number;
  cited: CitedCost;
  /** consistent: the interval lies inside the cited range; differs: outside it; inconclusive: it crosses a bound. */
  verdict: 'too few samples' | CitedVerdict;
}

export interface ReportData {
  title: string;
  meta?: ResultsFile['meta'];
  perf: boolean;
  underlay?: ResultsFile['underlay'];
  runs: RunRow[];
  skipped: { mode: string; reason: string }[];
  failures: FailureRow[];
  cited: CitedRow[];
  /** Modes measured in a guest, shown apart from the ratios. */
  guestModes: string[];
}

/** The family of a run: recorded in it, else known from the registry (older results files). */
const familyOf = (r: RunResult) => r.family ?? findMode(r.mode)?.family;

export function citedRow(run: RunResult): CitedRow | undefined {
  const q = run.perf?.ratioToUnderlay;
  const cited = findMode(run.mode)?.cited;
  if (!q || !cited || run.perf?.comparable === false) return undefined;
  const cost = 1 - q.mean;
  if (!fin(q.ci95)) return { mode: run.mode, cost, cited, verdict: 'too few samples' };
  const lo = cost - q.ci95;
  const hi = cost + q.ci95;
  return { mode: run.mode, cost, lo, hi, cited, verdict: citedVerdict(lo, hi, cited) };
}

export function reportData(r: ResultsFile): ReportData {
  const runs: RunRow[] = r.runs.map((run) => ({
    mode: run.mode,
    backend: run.backend,
    family: familyOf(run),
    status: run.status,
    pairsOk: run.pairs.filter((p) => p.ok).length,
    pairsTotal: run.pairs.length,
    ...(run.reason ? { reason: run.reason } : {}),
    ...(run.perf ? { perf: run.perf } : {}),
    comparable: run.perf?.comparable !== false,
  }));
  const failures = r.runs.flatMap((run) => [
    ...(run.status === 'failed' && run.reason ? [{ mode: run.mode, text: run.reason }] : []),
    ...run.pairs.filter((p) => !p.ok).map((p) => ({ mode: run.mode, text: `${p.src} → ${p.dst} (${p.path}): ${p.mismatch ?? ''}` })),
  ]);
  return {
    title: r.topology.name ?? 'lab',
    ...(r.meta ? { meta: r.meta } : {}),
    perf: r.runs.some((x) => x.perf),
    ...(r.underlay ? { underlay: r.underlay } : {}),
    runs,
    skipped: r.runs.filter((x) => x.status === 'skipped').map((x) => ({ mode: x.mode, reason: x.reason ?? '' })),
    failures,
    cited: r.runs.flatMap((run) => citedRow(run) ?? []),
    guestModes: runs.filter((x) => x.perf && !x.comparable).map((x) => x.mode),
  };
}

/** The phase columns every report shows, in the order they happen; a run without one shows "–". */
export const PHASE_COLUMNS = [
  ['build', 'build'],
  ['program', 'program'],
  ['switch', 'switch'],
  ['stale', 'stale'],
  ['warmup', 'warm-up'],
  ['captureStart', 'capture'],
  ['probe', 'probe'],
  ['captureStop', 'flush'],
  ['decode', 'decode'],
  ['mtuProbe', 'DF probe'],
  ['mtuSearch', 'MTU search'],
  ['faults', 'faults'],
  ['teardown', 'teardown'],
] as const satisfies readonly (readonly [Phase, string])[];

/** A run's phases as cells (ms), then their sum; none when the run has no timings. */
export function phaseCells(r: RunResult): string[] | undefined {
  const p = r.phases;
  if (!p || !Object.keys(p).length) return undefined;
  const cells = PHASE_COLUMNS.map(([k]) => (p[k] === undefined ? '–' : String(p[k])));
  const total = Object.values(p).reduce((a, b) => a + (b ?? 0), 0);
  return [...cells, String(total)];
}

type ConformancePath = NonNullable<ResultsFile['conformance']>['paths'][number];

/** The DF probe of a conformance path as one cell: "1500 B dropped (path carries 1450) ✓". */
export function dfCell(p: ConformancePath): string {
  const d = p.df;
  if (!d) return '–';
  if (d.error) return `not probed: ${d.error}`;
  return `${d.podMtu} B ${d.observed === 'passes' ? 'passed' : 'dropped'} (path carries ${d.pathMtu}) ${d.ok ? '✓' : '✗'}`;
}

/** Is this conformance path wrong: not as intended, pairs not as said, or a DF probe that disagreed? */
export const pathWrong = (p: ConformancePath) =>
  Boolean((p.intended && !p.intended.ok) || (p.wire && p.wire.ok < p.wire.pairs) || (p.df && !p.df.ok));

/** A finding's message with what showed it on the wire, when something did. */
export const findingText = (f: NonNullable<ResultsFile['conformance']>['findings'][number]) =>
  f.shown ? `${f.message}; on the wire: ${f.shown}` : f.message;

/** conform's reading against the proof's real daemon: a title, and per setting [setting, read, programmed, ✓/✗]. */
export function daemonCheckRows(c: NonNullable<ResultsFile['conformance']>): { title: string; rows: string[][] } | undefined {
  const d = c.daemonCheck;
  if (!d) return undefined;
  const differ = d.settings.filter((s) => !s.agree).length;
  return {
    title: `Read against ${d.daemon}: ${d.settings.length - differ} of ${d.settings.length} settings as conform read them`,
    rows: d.settings.map((s) => [
      s.setting,
      String(s.read),
      s.programmed === undefined ? 'nothing' : String(s.programmed),
      s.agree ? '✓' : '✗',
    ]),
  };
}

/** What the time table's numbers are. */
export const TIME_NOTE = "ms; build on a lab's first mode, teardown on its last, until the kernel removed its namespaces";

/** A real daemon's run: what it chose, how its model compared, what its previous backend left. */
export interface DaemonRow {
  mode: string;
  daemon: string;
  leases: string;
  model: string;
  differences: string[];
  leftBehind: string[];
}

export function daemonRows(r: ResultsFile): DaemonRow[] {
  return r.runs
    .filter((run) => run.daemon)
    .map((run) => {
      const m = run.modelDiff;
      return {
        mode: run.mode,
        daemon: run.daemon!,
        leases: Object.entries(run.daemonFacts?.leases ?? {})
          .map(([n, l]) => `${n} ${l}`)
          .join(', '),
        model: m ? `${m.model} (${m.compared} facts)` : 'none: checked on the wire only',
        differences: m ? m.differences.map((x) => `${x.node}, only in the ${x.only}: ${x.fact}`) : [],
        leftBehind: run.daemonFacts?.leftBehind ?? [],
      };
    });
}

/** Where a run's time went: its phase cells and its probing deadlines. */
export interface TimeRow {
  mode: string;
  cells: string[];
  deadline: string;
  firstContact: string;
}

export function timeRows(r: ResultsFile): TimeRow[] {
  return r.runs.flatMap((run) => {
    const cells = phaseCells(run);
    if (!cells) return [];
    return [
      {
        mode: run.mode,
        cells,
        deadline: run.probing ? `${run.probing.deadlineMs} ms` : '–',
        firstContact: run.probing?.firstContactMs ? `${run.probing.firstContactMs.max} ms` : '–',
      },
    ];
  });
}

/** A capture that cannot prove what crossed its segment, with its counts. */
export interface CaptureRow {
  mode: string;
  segment: string;
  counts: string;
  why: string;
}

/** Every capture that was not whole (its pairs were errors), and how many captures there were. */
export function captureRows(r: ResultsFile): { total: number; broken: CaptureRow[] } {
  const all = r.runs.flatMap((run) => (run.captureStats ?? []).map((c) => ({ run, c })));
  const broken = all
    .filter(({ c }) => c.incomplete)
    .map(({ run, c }) => ({
      mode: run.mode,
      segment: c.segment,
      counts: `${c.written} in the file; tcpdump: ${c.captured ?? '?'} captured, ${c.droppedByKernel ?? '?'} dropped by the kernel`,
      why: c.incomplete!.replace(/^capture incomplete on segment \S+: /, ''),
    }));
  return { total: all.length, broken };
}

/** The report's sentence on the captures: whole ones in one line, the others listed after it. */
export function capturesNote(c: { total: number; broken: CaptureRow[] }): string {
  return c.broken.length
    ? `${c.broken.length} of ${c.total} captures were not whole: the pairs with an end on their segment were not judged.`
    : `All ${c.total} captures were whole: each held its round's end marker, and the kernel dropped none of their packets.`;
}

/** The families of the runs, in the order first seen, each with its legend label and colour. */
export function familyLegend(r: ResultsFile): { family: string; label: string; colour: string }[] {
  const seen = [...new Set(r.runs.map(familyOf).filter((f): f is Family => f !== undefined && f in FAMILY_STYLE))];
  return seen.map((f) => ({ family: f, ...FAMILY_STYLE[f] }));
}

/** A family's colour in charts and tables; grey for one no mode declares. */
export const familyColour = (family: string | undefined) => (family && FAMILY_STYLE[family as Family]?.colour) || '#555';

/**
 * "Which mode is faster?" as a matrix: every measured host mode against every other, each cell from
 * the row's point of view ("+7.9%" faster, "−7.9%" slower, "≈" equivalent within the margin, "?"
 * undecided), and each pair's whole sentence (stats/pairs.ts pairText). Empty without pairs.
 */
export function pairMatrix(r: ResultsFile): { head: string[]; body: string[][]; lines: string[] } {
  const s = r.underlay?.stop;
  const pairs = s?.pairs ?? [];
  if (!pairs.length) return { head: [], body: [], lines: [] };
  const margin = s?.margin ?? DEFAULT_MARGIN;
  const modes = [...new Set(pairs.flatMap((p) => [p.a, p.b]))];
  const cell = (a: string, b: string): string => {
    if (a === b) return '–';
    const p = pairs.find((x) => (x.a === a && x.b === b) || (x.a === b && x.b === a));
    if (!p) return '';
    const flip = p.a !== a;
    if (p.verdict === 'undecided') return '?';
    if (p.verdict === 'equivalent') return '≈';
    // From the row's side: the pair is stored a-over-b.
    const d = flip ? 1 / (1 + p.diff) - 1 : p.diff;
    return `${d > 0 ? '+' : '−'}${Math.abs(d * 100).toFixed(1)}%`;
  };
  return {
    head: ['throughput, row vs column', ...modes],
    body: modes.map((a) => [a, ...modes.map((b) => cell(a, b))]),
    lines: pairs.map((p) => pairText(p, margin)),
  };
}
