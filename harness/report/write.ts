// Writes every output of a run: results.json (the contract), report.md, report.html, junit.xml.
// Each file is written whole and renamed into place: a reader never sees half of one.
import type { ResultsFile } from '../results/schema.ts';
import { writeFileAtomic } from '../results/write-file.ts';
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
  // Every file is tried (one that fits is kept); the first that failed is said.
  const written = await Promise.allSettled(files.map(([f, text]) => writeFileAtomic(`${dir}/${f}`, text)));
  const failed = written.find((w) => w.status === 'rejected');
  if (failed) throw failed.reason;
  return files.map(([f]) => `${dir}/${f}`);
}
