// Writes every output of a run: results.json (the contract), report.md, report.html, junit.xml.
import { writeFile } from 'node:fs/promises';
import type { ResultsFile } from '../results/schema.ts';
import { renderHtml } from './html.ts';
import { renderJunit } from './junit.ts';
import { renderMarkdown } from './markdown.ts';

export async function writeReports(dir: string, r: ResultsFile): Promise<string[]> {
  const files: [string, string][] = [
    ['results.json', JSON.stringify(r, null, 2) + '\n'],
    ['report.md', renderMarkdown(r)],
    ['report.html', renderHtml(r)],
    ['junit.xml', renderJunit(r)],
  ];
  await Promise.all(files.map(([f, text]) => writeFile(`${dir}/${f}`, text)));
  return files.map(([f]) => `${dir}/${f}`);
}
