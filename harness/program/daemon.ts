// One lifecycle for every process a lab runs (BIRD, etcd, flanneld, kube-apiserver and its door,
// and calico-node's daemons next): started in a node through its executor, detached so a lab left
// up by `cnilab up` keeps it, recorded (netns, pid + start time, what, log) the moment it exists so
// teardown and gc find it by its namespace and owner; waited for with one bounded poll that notices
// a daemon exiting on its own (its log's last lines in the error) and times out showing the limit,
// what it saw and the logs; stopped by pid + start time, never by a process name.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { CancelledError, DaemonExitedError, DaemonFailedError, LabError, TimeoutError } from '../errors.ts';
import { isCancelled } from '../kernel/exec.ts';
import { poll } from '../kernel/poll.ts';
import { isAlive, isRunning, killAll, processStartTime } from '../kernel/procs.ts';
import { shellQuote } from '../net/shell.ts';
import type { NodeExecutor } from '../node/executor.ts';

/** A daemon of a lab, as its state file records it. */
export interface LabDaemon {
  /** The namespace it lives in (an executor's id). */
  netns: string;
  pid: number;
  /** With the pid, what identifies it across pid reuse. */
  startTime: number;
  /** Its role, as messages name it: "flanneld n1", "etcd 3.4.23". */
  what: string;
  log?: string;
}

export interface DaemonSpec {
  what: string;
  argv: readonly string[];
  log: string;
  /** Its whole environment (`env -i`: nothing of cnilab's own is inherited); names are plain identifiers. */
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  /**
   * Folders bind-mounted over fixed paths in a mount namespace of its own (felix and confd write
   * under /var/run/calico, /var/lib/calico): target path (which must exist: no folder is made on
   * the host) -> folder in the lab (made). Private propagation: nothing reaches the host's mounts.
   */
  mounts?: Readonly<Record<string, string>>;
  /**
   * Folders of the host seen through an overlay whose writes land in a folder of the lab (calico-node
   * creates and writes /var/lib/calico, which must not appear on the host): target -> lab folder
   * (its upper/ and work/ are made). Each daemon has its own: two mounts sharing an upper are undefined.
   */
  overlays?: Readonly<Record<string, string>>;
  /** Folders hidden behind an empty tmpfs of its own (calico-node -startup makes /var/run/calico). */
  tmpfs?: readonly string[];
  /** A daemon that forks itself into the background (BIRD): its pid comes from this file. */
  pidFile?: string;
}

/** Running: its pid is still the process started (pid + start time) and not a zombie no parent has reaped yet. */
export const isRunningDaemon = (d: Pick<LabDaemon, 'pid' | 'startTime'>) => isAlive(d) && isRunning(d.pid);

/** The last lines of a log, each cut (klog lines can carry whole structs), or "(no log)". */
export function logTail(file: string | undefined, lines = 8): string {
  if (!file) return '(no log)';
  try {
    return readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .slice(-lines)
      .map((l) => (l.length > 200 ? `${l.slice(0, 200)}…` : l))
      .join('\n');
  } catch {
    return '(no log)';
  }
}

/** The shell words that run `spec` as it asks: in its mount namespace, with its environment. */
function commandOf(spec: DaemonSpec): string[] {
  const envWords = spec.env ? ['env', '-i', '--', ...Object.entries(spec.env).map(([k, v]) => `${k}=${v}`)] : [];
  const argv = [...envWords, ...spec.argv];
  // Overlays first (their lab folders may sit under a folder a tmpfs hides next), then binds, then tmpfs.
  const steps = [
    ...Object.entries(spec.overlays ?? {}).map(([target, dir]) => {
      const options = `lowerdir=${target},upperdir=${dir}/upper,workdir=${dir}/work`;
      return `mount -t overlay cnilab -o ${shellQuote(options)} ${shellQuote(target)}`;
    }),
    ...Object.entries(spec.mounts ?? {}).map(([target, source]) => `mount --bind ${shellQuote(source)} ${shellQuote(target)}`),
    ...(spec.tmpfs ?? []).map((target) => `mount -t tmpfs -o mode=0755 cnilab ${shellQuote(target)}`),
  ];
  if (steps.length === 0) return argv;
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `${steps.join(' && ')} && exec "$@"`, 'sh', ...argv];
}

/** Makes what `spec`'s mount namespace needs: its targets must exist (none is made on the host), its lab folders are made. */
function prepareMounts(spec: DaemonSpec): void {
  // overlay's options are split at ',' and ':': a path holding one would mount something else.
  for (const [target, dir] of Object.entries(spec.overlays ?? {}))
    if (/[,:]/.test(dir + target)) throw new Error(`${spec.what}: overlay paths must not hold ',' or ':' (${dir})`);
  for (const target of [...Object.keys(spec.mounts ?? {}), ...Object.keys(spec.overlays ?? {}), ...(spec.tmpfs ?? [])]) {
    // A mount point is never made on the host: a folder there would outlive the lab.
    if (!existsSync(target)) throw new LabError(`${spec.what}: mount target ${target} does not exist on this host`);
  }
  for (const source of Object.values(spec.mounts ?? {})) mkdirSync(source, { recursive: true, mode: 0o700 });
  for (const dir of Object.values(spec.overlays ?? {}))
    for (const sub of ['upper', 'work']) mkdirSync(`${dir}/${sub}`, { recursive: true, mode: 0o700 });
}

/**
 * Starts a daemon in a node, detached from this process, and records it before returning (so a
 * signal from here on tears it down).
 */
export async function startDaemon(
  exec: Pick<NodeExecutor, 'id' | 'run'>,
  spec: DaemonSpec,
  record: (d: LabDaemon) => void,
): Promise<LabDaemon> {
  // After Ctrl-C a programmer's chain on another node may still be on its way to a start (BIRD after
  // confd's render): a daemon started now could outlive the teardown that is already sweeping.
  if (isCancelled()) throw new CancelledError(spec.what);
  prepareMounts(spec);
  const cd = spec.cwd ? `cd ${shellQuote(spec.cwd)} || exit 1; ` : '';
  const words = commandOf(spec).map(shellQuote).join(' ');
  // A self-daemonising one reports its errors before it forks (they stay on stderr, in the error),
  // and writes its pid file after: read once it is there (the foreground process returns first).
  const cmd = spec.pidFile ? `${cd}${words} </dev/null` : `${cd}setsid ${words} >${shellQuote(spec.log)} 2>&1 </dev/null & echo $!`;
  const r = await exec.run(['sh', '-c', cmd], { op: spec.what });
  const pidFile = spec.pidFile;
  const pid = pidFile
    ? await poll(
        `${spec.what} to write its pid file ${pidFile}`,
        5000,
        () => '',
        async () => {
          const n = Number((existsSync(pidFile) ? readFileSync(pidFile, 'utf8') : '').trim());
          return Number.isInteger(n) && n > 0 ? n : undefined;
        },
        10,
      )
    : Number(r.stdout.trim());
  const d: LabDaemon = { netns: exec.id, pid, startTime: processStartTime(pid) ?? 0, what: spec.what, log: spec.log };
  record(d);
  return d;
}

/** Throws a DaemonExitedError naming every daemon of `daemons` that is no longer running, with its log. */
export function assertRunning(daemons: readonly LabDaemon[]): void {
  // In name order (n1, n2, n10), whatever order they started in.
  const dead = daemons.filter((d) => !isRunningDaemon(d)).sort((a, b) => a.what.localeCompare(b.what, undefined, { numeric: true }));
  if (dead.length)
    throw new DaemonExitedError(
      dead.map((d) => d.what),
      dead.map((d) => logTail(d.log, 4)),
    );
}

/**
 * Waits until `ready` answers, while every daemon of `daemons` runs: bounded, a daemon that exits
 * is said at once with its log, a timeout shows the limit, `seen` and the daemons' last log lines.
 */
export function waitReady<T>(
  what: string,
  opts: { timeoutMs: number; daemons: readonly LabDaemon[]; seen?: () => string; intervalMs?: number },
  ready: () => Promise<T | undefined>,
): Promise<T> {
  const logs = () =>
    opts.daemons
      .slice(0, 3)
      .map((d) => `${d.what}: ${logTail(d.log, 3)}`)
      .join(' | ');
  return poll(
    what,
    opts.timeoutMs,
    () => [opts.seen?.(), logs()].filter(Boolean).join(' | '),
    async () => {
      assertRunning(opts.daemons);
      return ready();
    },
    opts.intervalMs,
  );
}

/** Stops the daemons still running (pid + start time: a reused pid is left alone); SIGTERM, then SIGKILL. */
export async function stopDaemons(daemons: readonly LabDaemon[], graceMs?: number): Promise<void> {
  await killAll(
    daemons.filter(isRunningDaemon).map((d) => d.pid),
    graceMs,
  );
}

/**
 * Runs a one-shot program of a daemon's kind (calico-node -startup) in a node, in its mount namespace
 * and environment, its output to its log; bounded. A failure or a timeout throws with the log's
 * last lines. Not detached: it dies with this process.
 */
export async function runOnce(exec: Pick<NodeExecutor, 'id' | 'run'>, spec: DaemonSpec, timeoutMs: number): Promise<void> {
  if (isCancelled()) throw new CancelledError(spec.what);
  prepareMounts(spec);
  const cd = spec.cwd ? `cd ${shellQuote(spec.cwd)} || exit 1; ` : '';
  const words = commandOf(spec).map(shellQuote).join(' ');
  const cmd = ['sh', '-c', `${cd}exec ${words} >${shellQuote(spec.log)} 2>&1 </dev/null`];
  let how: string;
  try {
    const r = await exec.run(cmd, { op: spec.what, reject: false, timeoutMs });
    if (r.exitCode === 0) return;
    how = `exit ${r.exitCode}`;
  } catch (e) {
    if (!(e instanceof TimeoutError)) throw e;
    how = `not done in ${timeoutMs / 1000} s`;
  }
  throw new DaemonFailedError(spec.what, how, logTail(spec.log, 6));
}
