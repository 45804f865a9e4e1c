// Host-side supervision of a guest process tree. A guest (linux.uml and its helpers, qemu) runs
// under a small perl supervisor: its own process group; on SIGTERM/SIGINT/SIGHUP, on our death
// (PR_SET_PDEATHSIG) and after the main process exits, it SIGKILLs that group and reaps every member
// (PR_SET_CHILD_SUBREAPER: UML's helpers outlive the main process and get reparented to it). Each
// guest also carries a tag in its argv (UML's `umid=...`, qemu's `-name ...`), so a last sweep and
// a later gc find anything that escaped. Syscall numbers are x86_64 (prctl 157).
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SUPERVISOR = `
use strict; use POSIX ();
my $parent = getppid();
syscall(157, 36, 1, 0, 0, 0);   # prctl(PR_SET_CHILD_SUBREAPER, 1)
syscall(157, 1, 15, 0, 0, 0);   # prctl(PR_SET_PDEATHSIG, SIGTERM)
exit 125 if getppid() != $parent;
my $pid = fork();
die "fork: $!\\n" unless defined $pid;
if ($pid == 0) { setpgrp(0, 0); exec { $ARGV[0] } @ARGV; print STDERR "exec $ARGV[0]: $!\\n"; POSIX::_exit(127); }
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

/** SIGKILLs every process carrying `tag` until none is left (zombies count: they still show in pgrep). */
export async function sweep(tag: string, deadlineMs = 10_000): Promise<number[]> {
  const t0 = Date.now();
  let left = await pidsWithTag(tag);
  while (left.length && Date.now() - t0 < deadlineMs) {
    for (const p of left) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await new Promise((r) => setTimeout(r, 50));
    left = await pidsWithTag(tag);
  }
  return left;
}

/**
 * Removes temp dirs of guest runs that are gone (their harness was killed before it could clean
 * up: the guest dies with its harness, the dir does not). A dir counts as stale when no process
 * carries its tag and it is older than minAgeMs. Returns the removed paths.
 */
export async function cleanupStaleGuests(
  prefix: string,
  tagOf: (id: string) => string,
  opts: { minAgeMs?: number } = {},
): Promise<string[]> {
  const minAge = opts.minAgeMs ?? 60_000;
  const removed: string[] = [];
  for (const e of await readdir(tmpdir()).catch(() => [] as string[])) {
    const m = new RegExp(`^${prefix}(.+-[0-9a-f]{6})-[A-Za-z0-9]{6}$`).exec(e);
    if (!m?.[1]) continue;
    const path = join(tmpdir(), e);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isDirectory() || Date.now() - st.mtimeMs < minAge) continue;
    if ((await pidsWithTag(tagOf(m[1]))).length) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}
