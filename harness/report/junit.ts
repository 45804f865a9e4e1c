// JUnit XML: a suite per run, a case per pod pair.
import type { ResultsFile } from '../results/schema.ts';
import { escapeXml as x } from './format.ts';
import { dfCell, findingText, pathWrong } from './rows.ts';

export function renderJunit(r: ResultsFile): string {
  const suites = r.runs.map((run) => {
    const name = `${run.mode}@${run.backend}`;
    if (run.status === 'skipped')
      return (
        `  <testsuite name="${x(name)}" tests="1" failures="0" skipped="1">\n    <testcase classname="${x(name)}" ` +
        `name="mode"><skipped message="${x(run.reason ?? '')}"/></testcase>\n  </testsuite>`
      );
    const cases = run.pairs.map((p) => {
      const body = p.ok
        ? ''
        : `<failure message="${x(p.mismatch ?? 'mismatch')}">expected ${x(JSON.stringify(p.expected))}\nobserved ` +
          `${x(JSON.stringify(p.observed))}</failure>`;
      const time = p.observed.rttMs !== undefined ? ` time="${(p.observed.rttMs / 1000).toFixed(6)}"` : '';
      return `    <testcase classname="${x(name)}" name="${x(`${p.src} -> ${p.dst} (${p.path})`)}"${time}>${body}</testcase>`;
    });
    const extra = run.stale?.length
      ? [
          `    <testcase classname="${x(name)}" name="no stale state after switch"><failure ` +
            `message="${x(run.stale.join('; '))}"/></testcase>`,
        ]
      : [];
    for (const f of run.faults ?? []) {
      const body =
        f.status === 'failed'
          ? `<failure message="${x(f.reason ?? '')}"/>`
          : f.status === 'skipped'
            ? `<skipped message="${x(f.reason ?? '')}"/>`
            : '';
      extra.push(`    <testcase classname="${x(name)}" name="${x(`fault ${f.name} (${f.kind} on ${f.link})`)}">${body}</testcase>`);
    }
    const failures =
      run.pairs.filter((p) => !p.ok).length + (run.stale?.length ? 1 : 0) + (run.faults ?? []).filter((f) => f.status === 'failed').length;
    const skipped = (run.faults ?? []).filter((f) => f.status === 'skipped').length;
    return (
      `  <testsuite name="${x(name)}" tests="${cases.length + extra.length}" failures="${failures}" ` +
      `skipped="${skipped}">\n${[...cases, ...extra].join('\n')}\n  </testsuite>`
    );
  });
  const c = r.conformance;
  if (c) {
    // A case per finding and per path: CI shows each as its own line.
    const cases = [
      ...c.findings.map(
        (f) =>
          `    <testcase classname="conformance" name="${x(`${f.rule} at ${f.at}`)}">` +
          (f.severity === 'error'
            ? `<failure message="${x(findingText(f))}">${x(f.fix)}</failure>`
            : `<system-out>${x(`warning: ${f.message}; ${f.fix}`)}</system-out>`) +
          '</testcase>',
      ),
      ...c.paths.map((p) => {
        const wrong = [
          p.intended && !p.intended.ok ? `intended ${p.intended.want}` : '',
          p.wire && p.wire.ok < p.wire.pairs ? `${p.wire.pairs - p.wire.ok} of ${p.wire.pairs} pairs did not behave so on the wire` : '',
          p.df && !p.df.ok ? `DF probe: ${dfCell(p)}` : '',
        ].filter(Boolean);
        return (
          `    <testcase classname="conformance" name="${x(`${p.path}: ${p.does}`)}">` +
          `${wrong.length ? `<failure message="${x(wrong.join('; '))}"/>` : ''}</testcase>`
        );
      }),
    ];
    const failures = c.findings.filter((f) => f.severity === 'error').length + c.paths.filter(pathWrong).length;
    suites.unshift(
      `  <testsuite name="conformance" tests="${cases.length}" failures="${failures}" skipped="0">\n${cases.join('\n')}\n  </testsuite>`,
    );
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="cnilab">\n${suites.join('\n')}\n</testsuites>\n`;
}
