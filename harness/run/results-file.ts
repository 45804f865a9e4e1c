// results.json as a run goes: rewritten (temp file + rename, never half a file) after every
// finished mode and marked incomplete until the end, so a crash, a SIGKILL or a signal keeps what
// was done; --resume reads it back and skips the modes already done.
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../results/write-file.ts';
import { UsageError } from '../errors.ts';
import type { ResultsFile, RunResult } from '../results/schema.ts';

export const resultsPath = (dir: string) => `${dir}/results.json`;

export function writeResultsAtomic(dir: string, r: ResultsFile): void {
  writeFileAtomicSync(resultsPath(dir), `${JSON.stringify(r, null, 2)}\n`);
}

/** The finished runs of an earlier, incomplete run in `dir`, by mode, for --resume. */
export function finishedRuns(dir: string, topologyName: string | undefined): Map<string, RunResult> {
  const file = resultsPath(dir);
  if (!existsSync(file))
    throw new UsageError(`--resume: ${file} does not exist`, 'resume in the --out folder of an earlier run, or leave --resume out');
  let r: ResultsFile;
  try {
    r = JSON.parse(readFileSync(file, 'utf8')) as ResultsFile;
  } catch (e) {
    throw new UsageError(`--resume: ${file} is not readable JSON (${(e as Error).message})`, 'leave --resume out to start afresh');
  }
  if (r.topology?.name !== topologyName) {
    throw new UsageError(
      `--resume: ${file} is from topology "${r.topology?.name}", not "${topologyName}"`,
      'resume with the same --topology',
    );
  }
  return new Map(r.runs.filter((x) => x.status !== 'skipped').map((x) => [x.mode, x]));
}
