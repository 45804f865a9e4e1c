// A lock file held by a live process (pid + start time, so a reused pid is no owner): taken with
// O_EXCL, released by its owner only, and taken over when its owner died (SIGKILL, a crash). Used
// for a run's --out folder and for a lab's switch, so two commands never interleave on one.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { LabError } from '../errors.ts';
import { isAlive, processStartTime } from './procs.ts';

export interface LockOwner {
  pid: number;
  startTime: number;
  /** What holds it ("cnilab switch flannel-vxlan"), for the refusal's line. */
  what?: string;
}

/**
 * Takes `file` for this process, or calls `held(owner)` (which throws) when a live process holds
 * it. Returns the release, also run when this process exits.
 */
export function claimLock(file: string, what: string, held: (owner: LockOwner) => never): () => void {
  const me: LockOwner = { pid: process.pid, startTime: processStartTime(process.pid) ?? 0, what };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      const release = () => {
        const o = readOwner(file);
        if (o?.pid === me.pid && o.startTime === me.startTime) rmSync(file, { force: true });
      };
      process.once('exit', release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = readOwner(file);
      if (owner && isAlive(owner)) held(owner);
      // The owner died, or the file is half-written: the lock is stale.
      rmSync(file, { force: true });
    }
  }
  throw new LabError(`could not take ${file}: another process takes and drops it as fast`);
}

function readOwner(file: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}
