// Plain-text tables for the terminal.
import { PHASE_COLUMNS, phaseCells } from '../report/rows.ts';
import type { PairResult, RunResult, WireExpectation } from '../results/schema.ts';

export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function wireText(w: WireExpectation & { rttMs?: number }): string {
  if (!w.reachable) return `unreachable${w.encap !== 'none' ? ` (${encapText(w)} seen)` : ''}`;
  return encapText(w);
}

function encapText(w: WireExpectation): string {
  if (w.encap === 'vxlan') return `vxlan vni=${w.vni} port=${w.port}`;
  if (w.encap === 'udp') return `udp port=${w.port}`;
  return w.encap === 'ipip' ? 'ipip' : 'plain';
}

/** Pairs as a table of at most `width` columns: the verdict is cut to fit (the reports keep it whole). */
export function pairsTable(pairs: readonly PairResult[], width = Number.POSITIVE_INFINITY): string {
  const head = ['pair', 'path', 'expected', 'observed', 'rtt'];
  const rows = pairs.map((p) => [
    `${p.src} -> ${p.dst}`,
    p.path,
    p.error ? '-' : wireText(p.expected),
    p.error ? '-' : wireText(p.observed),
    p.observed.rttMs !== undefined ? `${p.observed.rttMs.toFixed(3)} ms` : '-',
  ]);
  const used = head.reduce((a, h, i) => a + Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 2, 0);
  const room = Math.max(20, width - used);
  const verdict = (p: PairResult) => (p.ok ? 'ok' : p.error ? `ERROR: ${p.error}` : `MISMATCH: ${p.mismatch}`);
  return table(
    [...head, 'verdict'],
    rows.map((r, i) => [...r, cut(verdict(pairs[i]!), room)]),
  );
}

/** Cuts a cell to `max` characters with an ellipsis: the terminal shows what failed, the reports keep everything. */
export const cut = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, Math.max(1, max - 1))}…`);

export const TERMINAL_WIDTH = 100;

export function runsSummary(runs: readonly RunResult[]): string {
  const head = ['mode', 'backend', 'status', 'pairs ok'];
  const rows = runs.map((r) => [
    r.mode,
    r.backend,
    r.status.toUpperCase(),
    r.status === 'skipped' ? '-' : `${r.pairs.filter((p) => p.ok).length}/${r.pairs.length}`,
  ]);
  const used = head.reduce((a, h, i) => a + Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 2, 0);
  const room = Math.max(20, TERMINAL_WIDTH - used);
  return table(
    [...head, 'reason'],
    rows.map((r, i) => [...r, cut(runs[i]!.reason ?? '', room)]),
  );
}

/** Where each mode's time went, in ms, a column per phase (the reports say what each means). */
export function phasesSummary(runs: readonly RunResult[]): string | undefined {
  const rows = runs.flatMap((r) => {
    const cells = phaseCells(r);
    return cells ? [[r.mode, ...cells]] : [];
  });
  if (!rows.length) return undefined;
  // 11 phases do not fit 100 columns: the ones a reader acts on, the rest summed into "other".
  const keep = new Set(['build', 'switch', 'warm-up', 'probe', 'decode', 'teardown']);
  const heads = PHASE_COLUMNS.map(([, h]) => h);
  const idx = heads.flatMap((h, i) => (keep.has(h) ? [i] : []));
  const num = (c: string) => (c === '–' ? 0 : Number(c));
  const head = ['ms', ...idx.map((i) => heads[i]!), 'other', 'total'];
  const body = rows.map(([mode, ...cells]) => {
    const total = num(cells.at(-1)!);
    const shown = idx.map((i) => cells[i]!);
    const other = total - shown.reduce((a, c) => a + num(c), 0);
    return [mode!, ...shown, String(other), String(total)];
  });
  return table(head, body);
}

/** What a real daemon did for a run, in a few lines of at most `width` columns; none for cnilab's own modes. */
export function daemonLines(r: RunResult, width = TERMINAL_WIDTH): string[] {
  if (!r.daemon || !r.daemonFacts) return [];
  const out = [
    `  ${r.daemon}: leases ${Object.entries(r.daemonFacts.leases)
      .map(([n, l]) => `${n}=${l}`)
      .join(' ')}`,
  ];
  // Which CNI plugin attached the pods: the real one and its chain, or the reproduction and why.
  out.push(`  pods: ${r.daemonFacts.cni}`);
  if (r.modelDiff) {
    const d = r.modelDiff.differences;
    out.push(`  model ${r.modelDiff.model}: ${r.modelDiff.compared} facts planned, ${d.length} differ from the kernel`);
    for (const x of d.slice(0, 10)) out.push(`    ${x.node} only in the ${x.only}: ${x.fact}`);
    if (d.length > 10) out.push(`    ... ${d.length - 10} more in results.json`);
  }
  const rc = r.readingCheck;
  if (rc) {
    const differ = rc.settings.filter((x) => !x.agree);
    out.push(`  the manifest as conform read it: ${rc.settings.length - differ.length}/${rc.settings.length} settings as programmed`);
    for (const x of differ)
      out.push(`    DIFFERS ${x.setting}: conform read ${x.read}, the daemon programmed ${x.programmed ?? 'nothing'}`);
  }
  const k = r.daemonFacts.kube;
  if (k)
    out.push(
      `  from DaemonSet ${k.daemonSet} via ${k.apiserver}; net-conf.json Backend ` +
        `${JSON.stringify(k.netConf.backend)}${k.netConf.patched ? ' (patched in its ConfigMap)' : ' (as applied)'}`,
    );
  const left = r.daemonFacts.leftBehind ?? [];
  if (left.length) out.push(`  left by its previous backend: ${left.length} facts (results.json daemon.leftBehind)`);
  return out.map((l) => cut(l, width));
}

/** A table whose last column is cut so every line fits `width` (the JSON output keeps it whole). */
export function tableFit(head: string[], rows: string[][], width = TERMINAL_WIDTH): string {
  const fixed = head.slice(0, -1).reduce((a, h, i) => a + Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 2, 0);
  const room = Math.max(20, width - fixed);
  return table(
    head,
    rows.map((r) => [...r.slice(0, -1), cut(r[r.length - 1] ?? '', room)]),
  );
}
