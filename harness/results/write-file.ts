// A result file written whole or not at all: a temp file beside it, renamed into place. A write that
// fails (a full disk, a read-only one) removes its temp file, keeps the file it would have replaced,
// and says in one line which file and why: ENOSPC is the user's to fix, not an internal error.
import { rmSync, renameSync, writeFileSync } from 'node:fs';
import { rm, rename, writeFile } from 'node:fs/promises';
import { CnilabError } from '../errors.ts';

export class OutputError extends CnilabError {
  readonly exitCode = 1;
  constructor(
    readonly path: string,
    readonly code: string,
    why: string,
  ) {
    super(`cannot write ${path}: ${why} (${code}); what was written before is kept`);
    this.name = 'OutputError';
  }
}

const WHY: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EIO: 'an I/O error',
};

function outputError(path: string, e: unknown): OutputError {
  const code = (e as NodeJS.ErrnoException).code ?? 'error';
  return new OutputError(path, code, WHY[code] ?? (e as Error).message);
}

const tmpOf = (path: string) => `${path}.${process.pid}.tmp`;

export function writeFileAtomicSync(path: string, text: string): void {
  try {
    writeFileSync(tmpOf(path), text);
    renameSync(tmpOf(path), path);
  } catch (e) {
    rmSync(tmpOf(path), { force: true });
    throw outputError(path, e);
  }
}

export async function writeFileAtomic(path: string, text: string): Promise<void> {
  try {
    await writeFile(tmpOf(path), text);
    await rename(tmpOf(path), path);
  } catch (e) {
    await rm(tmpOf(path), { force: true });
    throw outputError(path, e);
  }
}
