// Host-side supervision of a guest process tree. A guest (linux.uml and its helpers, qemu) runs
// under a small perl supervisor: its own process group; on SIGTERM/SIGINT/SIGHUP, on our death
// (PR_SET_PDEATHSIG) and after the main process exits, it SIGKILLs that group and reaps every member
// (PR_SET_CHILD_SUBREAPER: UML's helpers outlive the main process and get reparented to it). The
// guest's main process has a parent-death signal of its own, SIGKILL, for a supervisor that is killed
// outright. Each guest also carries a tag in its argv (UML's `umid=...`, qemu's `-name ...`), so a
// last sweep and a later gc find anything that escaped. Syscall numbers are x86_64 (prctl 157).
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, isRunning, processStartTime } from '../../kernel/procs.ts';

export const SUPERVISOR = `
use strict; use POSIX ();
my $parent = getppid();
syscall(157, 36, 1, 0, 0, 0);   # prctl(PR_SET_CHILD_SUBREAPER, 1)
syscall(157, 1, 15, 0, 0, 0);   # prctl(PR_SET_PDEATHSIG, SIGTERM)
exit 125 if getppid() != $parent;
my $sup = $$;
my $pid = fork();
die "fork: $!\\n" unless defined $pid;
if ($pid == 0) {
  # The guest dies with this supervisor, whatever kills it: a SIGKILL (a cancelled run kills every
  # command it started that way) leaves no handler to kill the group, and qemu ran on with ppid 1.
  syscall(157, 1, 9, 0, 0, 0);  # prctl(PR_SET_PDEATHSIG, SIGKILL): kept across exec
  POSIX::_exit(125) if getppid() != $sup;
  setpgrp(0, 0); exec { $ARGV[0] } @ARGV; print STDERR "exec $ARGV[0]: $!\\n"; POSIX::_exit(127);
}
setpgrp($pid, $pid);
my $kill = sub { kill 'KILL', -$pid; kill 'KILL', $pid; };
$SIG{TERM} = $SIG{INT} = $SIG{HUP} = $kill;
my $st;
while (1) { my $r = waitpid($pid, 0); if ($r == $pid) { $st = $?; last } last if $r == -1 && !$!{EINTR}; }
$kill->();
while (1) { my $r = waitpid(-1, 0); last if $r == -1 && !$!{EINTR}; }
$st //= 255 << 8;
exit(($st & 127) ? 128 + ($st & 127) : ($st >> 8));
`;

/** Host pids of processes with `tag` as one of their argv elements. */
export async function pidsWithTag(tag: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'latin1').catch(() => '');
    if (cmd.split('\0').includes(tag)) out.push(Number(e));
  }
  return out;
}

/**
 * SIGKILLs every process carrying `tag` until none runs. A process is followed by its pid once seen:
 * a dying qemu loses its command line (and so its tag) while it still tears its memory down.
 */
export async function sweep(tag: string, deadlineMs = 10_000): Promise<number[]> {
  const t0 = Date.now();
  // pid -> start time: a pid reused meanwhile by another process is not ours to kill.
  const seen = new Map<number, number | undefined>();
  const note = (pids: number[]) => {
    for (const p of pids) if (!seen.has(p)) seen.set(p, processStartTime(p));
  };
  note(await pidsWithTag(tag));
  let left = [...seen.keys()];
  while (left.length && Date.now() - t0 < deadlineMs) {
    for (const p of left) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await new Promise((r) => setTimeout(r, 20));
    note(await pidsWithTag(tag));
    left = [...seen].filter(([p, start]) => start !== undefined && processStartTime(p) === start && isRunning(p)).map(([p]) => p);
  }
  return left;
}

type Proc = { pid: number; startTime: number };

/**
 * What a guest's temp dir says of it, written as soon as its supervisor runs: whose it is (the run's
 * pid and start time) and which host processes are the guest. gc trusts this, not a process name:
 * a guest whose owner is dead is killed by pid (start time checked), whatever its command line.
 */
export interface GuestRecord {
  kind: string;
  id: string;
  /** The run's name for it: cnilab-<lab>. */
  name: string;
  owner: Proc;
  supervisor: Proc;
  /** The guest's main process (qemu, linux.uml), once the supervisor has started it. */
  guest?: Proc;
}

export const GUEST_RECORD = 'guest.json';

const procOf = (pid: number | undefined): Proc | undefined => {
  const startTime = pid === undefined ? undefined : processStartTime(pid);
  return pid === undefined || startTime === undefined ? undefined : { pid, startTime };
};

/**
 * Writes the record of a guest whose supervisor is `supervisorPid`, then again once the supervisor's
 * child (the guest itself) shows (within a second; it is forked at once).
 */
export async function recordGuest(
  dir: string,
  r: Omit<GuestRecord, 'owner' | 'supervisor' | 'guest'>,
  supervisorPid: number,
): Promise<void> {
  const owner = procOf(process.pid);
  const supervisor = procOf(supervisorPid);
  if (!owner || !supervisor) return;
  const write = (rec: GuestRecord) => writeFile(join(dir, GUEST_RECORD), JSON.stringify(rec));
  await write({ ...r, owner, supervisor });
  for (let i = 0; i < 50; i++) {
    const kids = await readFile(`/proc/${supervisorPid}/task/${supervisorPid}/children`, 'latin1').catch(() => '');
    const guest = procOf(Number(kids.trim().split(/\s+/)[0]) || undefined);
    if (guest) return write({ ...r, owner, supervisor, guest });
    await new Promise((res) => setTimeout(res, 20));
  }
}

async function readRecord(dir: string): Promise<GuestRecord | undefined> {
  try {
    const r = JSON.parse(await readFile(join(dir, GUEST_RECORD), 'utf8')) as GuestRecord;
    return typeof r.owner?.pid === 'number' && typeof r.supervisor?.pid === 'number' && typeof r.id === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reaps the guests of runs that are gone. A temp dir with a record is reaped when its owner is dead:
 * its supervisor and guest are killed by pid (when their start times still match), anything still
 * carrying its tag is swept, and the dir goes. A live owner's guest is never touched. A dir without
 * a record (its run was killed before the supervisor started) goes when no process carries its tag
 * and it is older than minAgeMs. Returns what was reaped, one line each.
 */
export async function reapGuests(
  kind: { name: string; tempPrefix: string; tagOf(id: string): string },
  opts: { minAgeMs?: number } = {},
): Promise<string[]> {
  const minAge = opts.minAgeMs ?? 60_000;
  const reaped: string[] = [];
  for (const e of await readdir(tmpdir()).catch(() => [] as string[])) {
    const m = new RegExp(`^${kind.tempPrefix}(.+-[0-9a-f]{6})-[A-Za-z0-9]{6}$`).exec(e);
    if (!m?.[1]) continue;
    const path = join(tmpdir(), e);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    const rec = await readRecord(path);
    if (rec) {
      if (isAlive(rec.owner)) continue;
      const killed = [rec.supervisor, rec.guest].filter((p): p is Proc => p !== undefined && isAlive(p));
      for (const p of killed) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          /* gone meanwhile */
        }
      }
      const left = await sweep(kind.tagOf(rec.id));
      if (left.length) {
        reaped.push(`${kind.name} guest ${rec.id}: processes ${left.join(', ')} would not die; its temp dir ${path} kept`);
        continue;
      }
      await rm(path, { recursive: true, force: true });
      const what = killed.length ? `killed ${killed.map((p) => `pid ${p.pid}`).join(', ')} and removed` : 'removed';
      reaped.push(`${kind.name} guest ${rec.id} of a dead run (pid ${rec.owner.pid}): ${what} its temp dir ${path}`);
      continue;
    }
    if (Date.now() - st.mtimeMs < minAge) continue;
    if ((await pidsWithTag(kind.tagOf(m[1]))).length) continue;
    await rm(path, { recursive: true, force: true });
    reaped.push(`${kind.name} temp dir ${path}`);
  }
  return reaped;
}
