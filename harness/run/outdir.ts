// The output folder of a run: checked before anything is built (a folder that cannot take the
// results is a user error, exit 2, not a stack trace after the lab ran), and locked for the run,
// so two runs never write the same pcaps and results.json or judge each other's captures.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import { isAlive, processStartTime } from '../kernel/procs.ts';

const KERNEL_FS = ['/proc', '/sys', '/dev'];
export const LOCK = '.cnilab.lock';

interface Owner {
  pid: number;
  startTime: number;
}

/** Checks `dir` can take a run's results, creates it, and locks it for this process; returns the unlock. */
export function claimOutDir(dir: string): () => void {
  const abs = resolve(dir);
  if (KERNEL_FS.some((k) => abs === k || abs.startsWith(`${k}/`))) {
    throw new UsageError(`--out ${dir}: ${abs} is inside a kernel file system`, 'give a folder on a disk, e.g. --out ./out');
  }
  try {
    mkdirSync(abs, { recursive: true });
    const probe = `${abs}/.cnilab-write-test-${process.pid}`;
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    const why =
      { EACCES: 'permission denied', EROFS: 'read-only file system', ENOTDIR: 'a part of the path is a file', ENOSPC: 'no space left' }[
        code
      ] ?? (e as Error).message;
    throw new UsageError(`--out ${dir}: cannot write there (${why})`, 'give a writable folder, e.g. --out ./out');
  }
  const me: Owner = { pid: process.pid, startTime: processStartTime(process.pid) ?? 0 };
  const lock = `${abs}/${LOCK}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      const release = () => {
        try {
          const o = JSON.parse(readFileSync(lock, 'utf8')) as Owner;
          if (o.pid === me.pid && o.startTime === me.startTime) rmSync(lock, { force: true });
        } catch {
          /* already gone */
        }
      };
      process.once('exit', release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner: Owner | undefined;
      try {
        owner = JSON.parse(readFileSync(lock, 'utf8')) as Owner;
      } catch {
        /* half-written or corrupt: treated as stale */
      }
      if (owner && isAlive(owner)) {
        throw new UsageError(`--out ${dir} is in use by a live run (pid ${owner.pid})`, 'give each concurrent run its own --out folder');
      }
      // The owner died (SIGKILL, a crash): its lock is stale.
      rmSync(lock, { force: true });
    }
  }
  throw new UsageError(`--out ${dir}: could not take its lock`, 'try again, or give another --out folder');
}
