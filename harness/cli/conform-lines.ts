// What `cnilab conform` prints: the reading with its sources and findings, then the wire's answers.
// The terminal fits 100 columns; results.json and the reports keep every line whole.
import { cniLabel, type Conformance, planeEntries } from '../conform/conform.ts';
import type { ConformanceResult } from '../results/schema.ts';
import { cut, TERMINAL_WIDTH, tableFit } from './table.ts';

/** The data plane as read, a setting per row with its source; the findings (where, what, fix); the pod paths. */
export function readingLines(cc: Conformance, explainAll: boolean): string[] {
  const out: string[] = [];
  const shown = (v: { value: unknown; at: string; default?: true }) => [String(v.value), v.default ? `default (${v.at})` : v.at];
  const from = cc.inputs.filter((i) => i.used).map((i) => i.document);
  out.push(cut(`${cniLabel(cc)}${cc.pool ? `, pool ${cc.pool}` : ''}, from ${from.join('; ')}`, TERMINAL_WIDTH));
  out.push(
    tableFit(
      ['setting', 'value', 'from'],
      planeEntries(cc.plane).map(([k, v]) => [k, ...shown(v)]),
    ),
  );
  // A finding is three lines (where, what, fix), each cut to the terminal: results.json keeps them whole.
  const lines = cc.findings.flatMap((f) => [`${f.severity.toUpperCase()} ${f.rule} at ${f.at}`, `    ${f.message}`, `    fix: ${f.fix}`]);
  out.push(`\n${cc.findings.length ? lines.map((l) => cut(l, TERMINAL_WIDTH)).join('\n') : 'no findings'}`);
  const explain = cc.paths.map(
    (p) => `  ${p.path.padEnd(12)} ${p.text}${p.intended ? ` (intended ${p.intended.want}: ${p.intended.ok ? 'yes' : 'NO'})` : ''}`,
  );
  if (explain.length && (explainAll || cc.paths.some((p) => p.intended))) out.push(`\nper pod path:\n${explain.join('\n')}`);
  return out;
}

/** Per pod path, the wire's pairs and the DF probe; then the settings against what the real daemon programmed. */
export function wireLines(result: ConformanceResult): string[] {
  const out: string[] = [];
  for (const p of result.paths) {
    if (p.wire)
      out.push(
        `  wire ${p.path.padEnd(12)} ${p.wire.ok}/${p.wire.pairs} pairs as the config says${p.wire.ok < p.wire.pairs ? '  FAILED' : ''}`,
      );
    if (p.df)
      out.push(
        cut(
          `  DF   ${p.path.padEnd(12)} ${p.df.podMtu} bytes ` +
            `${p.df.error ? `not probed: ${p.df.error}` : p.df.observed === 'passes' ? 'passed' : 'did not pass'}` +
            ` (path carries ${p.df.pathMtu}; ${p.df.expected === 'passes' ? 'must pass' : 'must not'})${p.df.ok ? '' : '  FAILED'}`,
          TERMINAL_WIDTH,
        ),
      );
  }
  // The settings as conform read them against what the real daemon programmed from them.
  const check = result.daemonCheck;
  if (check) {
    const differ = check.settings.filter((x) => !x.agree);
    out.push(`  read ${check.settings.length - differ.length}/${check.settings.length} settings as ${check.daemon} programmed them`);
    for (const d of differ)
      out.push(cut(`  DIFFERS ${d.setting}: conform read ${d.read}, the daemon programmed ${d.programmed ?? 'nothing'}`, TERMINAL_WIDTH));
  }
  return out;
}
