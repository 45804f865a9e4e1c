// The output folder of a run: checked before anything is built (a folder that cannot take the
// results is a user error, exit 2, not a stack trace after the lab ran), and locked for the run,
// so two runs never write the same pcaps and results.json or judge each other's captures.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolvedPath } from '../kube/confine.ts';
import { resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import { claimLock } from '../kernel/pid-lock.ts';
import { OutputError } from '../results/write-file.ts';

const KERNEL_FS = ['/proc', '/sys', '/dev'];
/** Folders of the system itself: a run as root writes pcaps and reports, never there (a symlink is followed first). */
const SYSTEM = [
  '/etc',
  '/usr',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/boot',
  '/var/lib',
  '/var/log',
  '/var/spool',
  '/run',
];
export const LOCK = '.cnilab.lock';

const inside = (p: string, dirs: readonly string[]) => dirs.some((k) => p === k || p.startsWith(`${k}/`));

export interface OutDir {
  /** The folder results are written to: symlinks resolved. */
  path: string;
  release: () => void;
  /**
   * Runs a write of results; if the disk is full, frees the room kept for this moment and runs it
   * once more, so results.json can still say what happened (its pcaps filled the disk).
   */
  withRoom<T>(write: () => T): T;
}

/** Room kept in --out for the last results.json when pcaps fill the disk (60 pods' results are ~1 MiB). */
export const RESERVE = '.cnilab-reserve';
const RESERVE_BYTES = 2 * 1024 * 1024;

function cannotWrite(dir: string, e: unknown): UsageError {
  const code = (e as NodeJS.ErrnoException).code ?? 'error';
  const why =
    { EACCES: 'permission denied', EROFS: 'read-only file system', ENOTDIR: 'a part of the path is a file', ENOSPC: 'no space left' }[
      code
    ] ?? (e as Error).message;
  return new UsageError(`--out ${dir}: cannot write there (${why})`, 'give a writable folder with a few MiB free, e.g. --out ./out');
}

/**
 * Checks `dir` can take a run's results, creates it, and locks it for this process. A symlink is
 * resolved first, and the folder it names is the one checked and used (the caller says where that
 * is when it differs): `--out` pointing at /etc is refused, not followed.
 */
export function claimOutDir(dir: string): OutDir {
  let abs = resolve(dir);
  if (inside(abs, KERNEL_FS)) {
    throw new UsageError(`--out ${dir}: ${abs} is inside a kernel file system`, 'give a folder on a disk, e.g. --out ./out');
  }
  abs = resolvedPath(abs);
  if (abs === '/' || inside(abs, [...KERNEL_FS, ...SYSTEM]))
    throw new UsageError(`--out ${dir}: ${abs} is a system folder`, 'give a folder of your own, e.g. --out ./out');
  try {
    mkdirSync(abs, { recursive: true });
  } catch (e) {
    throw cannotWrite(dir, e);
  }
  let unlock: () => void;
  try {
    unlock = claimLock(`${abs}/${LOCK}`, 'cnilab run', (owner) => {
      throw new UsageError(`--out ${dir} is in use by a live run (pid ${owner.pid})`, 'give each concurrent run its own --out folder');
    });
  } catch (e) {
    throw e instanceof UsageError ? e : cannotWrite(dir, e);
  }
  const reserve = `${abs}/${RESERVE}`;
  try {
    writeFileSync(reserve, Buffer.alloc(RESERVE_BYTES));
  } catch (e) {
    rmSync(reserve, { force: true });
    unlock();
    throw cannotWrite(dir, e);
  }
  const free = () => rmSync(reserve, { force: true });
  process.once('exit', free);
  return {
    path: abs,
    release: () => {
      free();
      unlock();
    },
    withRoom<T>(write: () => T): T {
      const again = (e: unknown): T => {
        if (!(e instanceof OutputError) || e.code !== 'ENOSPC' || !existsSync(reserve)) throw e;
        free();
        return write();
      };
      try {
        const r = write();
        return r instanceof Promise ? (r.catch(again) as T) : r;
      } catch (e) {
        return again(e);
      }
    },
  };
}
