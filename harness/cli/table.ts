// Plain-text tables for the terminal.
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
  return w.encap === 'ipip' ? 'ipip' : 'plain';
}

export function pairsTable(pairs: readonly PairResult[]): string {
  return table(
    ['pair', 'path', 'expected', 'observed', 'rtt', 'verdict'],
    pairs.map((p) => [
      `${p.src} -> ${p.dst}`,
      p.path,
      wireText(p.expected),
      wireText(p.observed),
      p.observed.rttMs !== undefined ? `${p.observed.rttMs.toFixed(3)} ms` : '-',
      p.ok ? 'ok' : `MISMATCH: ${p.mismatch}`,
    ]),
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
