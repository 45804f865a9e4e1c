// Writes every output of a run: results.json (the contract), report.md, report.html, junit.xml.
// Each file is written whole and renamed into place: a reader never sees half of one.
import { rename, writeFile } from 'node:fs/promises';
import type { ResultsFile } from '../results/schema.ts';
import { renderHtml } from './html.ts';
import { renderJunit } from './junit.ts';
import { renderMarkdown } from './markdown.ts';

export async function writeReports(dir: string, r: ResultsFile): Promise<string[]> {
  const files: [string, string][] = [
    ['results.json', `${JSON.stringify(r, null, 2)}\n`],
    ['report.md', renderMarkdown(r)],
    ['report.html', renderHtml(r)],
    ['junit.xml', renderJunit(r)],
  ];
  await Promise.all(
    files.map(async ([f, text]) => {
      await writeFile(`${dir}/${f}.${process.pid}.tmp`, text);
      await rename(`${dir}/${f}.${process.pid}.tmp`, `${dir}/${f}`);
    }),
  );
  return files.map(([f]) => `${dir}/${f}`);
}
