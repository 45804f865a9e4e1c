// Processes living in a lab's namespaces, found from /proc without spawning anything: a process
// belongs to a namespace when its /proc/PID/ns/net is the same inode as the namespace's file
// (an executor's netnsPath: /run/netns/NAME for a local namespace, /proc/PID/ns/net for a container).
import { readdirSync, readFileSync, statSync } from 'node:fs';

export function fileInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/** Running processes (zombies excluded) whose network namespace is one of the namespace files `paths`. */
export function pidsInNetns(paths: readonly string[]): number[] {
  const inodes = new Set(paths.map(fileInode).filter((x): x is number => x !== undefined));
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (inodes.has(statSync(`/proc/${entry}/ns/net`).ino) && isRunning(Number(entry))) pids.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

/** Field 22 of /proc/PID/stat: with the pid, it identifies a process across pid reuse. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** Running, not a zombie (daemonised BIRD is reparented to a pid 1 that may never reap it). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

export function isAlive(owner: { pid: number; startTime: number }): boolean {
  return processStartTime(owner.pid) === owner.startTime;
}

export async function killAll(pids: readonly number[], graceMs = 1000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  const waitGone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && pids.some(isRunning)) await new Promise((r) => setTimeout(r, 20));
  };
  signal('SIGTERM');
  await waitGone(graceMs);
  if (!pids.some(isRunning)) return;
  signal('SIGKILL');
  // A successor (the next mode's BIRD on the same socket) must not find this one still alive.
  await waitGone(2000);
}

export function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}
