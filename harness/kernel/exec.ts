// The one process runner. Every command cnilab starts goes through here (node executors add their
// own prefix: nsenter, a guest agent, docker exec), so cancellation and error reporting are the same
// everywhere. Cancellation has one path: cancelAll() kills every command in flight and runs every
// registered cancel hook (a guest's supervisor, for instance).
import { setMaxListeners } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { execa, type ResultPromise } from 'execa';
import { CancelledError, KernelError, TimeoutError } from '../errors.ts';

const live = new Set<ResultPromise>();
const hooks = new Set<() => void>();
let cancel = newController();
let cancelled = false;

/** One signal is shared by every command in flight: hundreds of listeners on it are expected. */
function newController(): AbortController {
  const c = new AbortController();
  setMaxListeners(Infinity, c.signal);
  return c;
}

/** Kills every command in flight and runs every cancel hook; later commands still run (teardown needs them). */
export function cancelAll(): void {
  cancelled = true;
  cancel.abort();
  for (const p of live) p.kill('SIGKILL');
  for (const h of [...hooks]) {
    try {
      h();
    } catch {
      /* a hook that fails must not stop the others */
    }
  }
  cancel = newController();
}

/**
 * Resolves once every command that was in flight has exited (or after capMs). A SIGKILLed process
 * still finishes the syscall it is in: `ip netns add` killed mid-way may create its namespace after
 * the kill was sent, so teardown waits for this before it deletes anything.
 */
export async function inFlightExited(capMs = 5_000): Promise<void> {
  const all = Promise.allSettled([...live]);
  await Promise.race([all, new Promise((r) => setTimeout(r, capMs).unref())]);
}

/** True once cancelAll() ran: long loops check it to stop starting new work. */
export const isCancelled = () => cancelled;

/** Registers work to stop on cancelAll(); returns its unregister function. */
export function onCancel(hook: () => void): () => void {
  hooks.add(hook);
  return () => hooks.delete(hook);
}

/**
 * A prefix that makes a command die with this process, even on SIGKILL: setpriv sets
 * PR_SET_PDEATHSIG, which survives the exec of what follows (nsenter, the tool; none set-user-ID).
 */
export const PDEATHSIG = ['setpriv', '--pdeathsig', 'KILL', '--'] as const;

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** Return a non-zero exit instead of throwing. Timeouts and cancellation still throw. */
  reject?: boolean;
  /** What the command is for, in error messages. */
  op?: string;
  /** Where it runs, in error messages (an executor's id). */
  where?: string;
}

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs argv to completion. Throws TimeoutError (stderr kept) and CancelledError; KernelError on exit != 0 unless reject is false. */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  const limit = opts.timeoutMs ?? 60_000;
  const p = execa(argv[0]!, argv.slice(1), {
    input: opts.input,
    reject: false,
    timeout: limit,
    env: opts.env,
    extendEnv: true,
    cancelSignal: cancel.signal,
    stripFinalNewline: false,
  });
  live.add(p);
  try {
    const r = await p;
    const out = { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
    const op = opts.op ?? argv[0]!;
    if (r.timedOut) throw new TimeoutError(`${op}${opts.where ? ` in ${opts.where}` : ''} to finish`, out.stderr || out.stdout, limit);
    if (r.isCanceled || (r.isTerminated && cancelled)) throw new CancelledError(op);
    if (out.exitCode !== 0 && opts.reject !== false) {
      throw new KernelError({
        op,
        ...(opts.where ? { where: opts.where } : {}),
        command: argv.join(' '),
        stderr: out.stderr || out.stdout,
        exitCode: out.exitCode,
      });
    }
    return out;
  } finally {
    live.delete(p);
  }
}

/** A long-running process (tcpdump, bird, iperf3 -s, a guest's supervisor). */
export interface Spawned {
  readonly pid: number | undefined;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** Set when spawned with `stdin: 'pipe'`. */
  readonly stdin: Writable | null;
  kill(signal?: NodeJS.Signals): void;
  /** Resolves when it exits, with its code (128+n for a signal); never rejects. */
  wait(): Promise<{ exitCode: number }>;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Replace the environment instead of extending it. */
  cleanEnv?: boolean;
  /** Its own process group: a terminal's Ctrl-C reaches us, not it. */
  detached?: boolean;
  /** A pipe to write to (a long-lived helper that takes requests); ignored by default. */
  stdin?: 'pipe' | 'ignore';
}

export function spawn(argv: readonly string[], opts: SpawnOptions = {}): Spawned {
  const p = execa(argv[0]!, argv.slice(1), {
    reject: false,
    env: opts.env,
    extendEnv: !opts.cleanEnv,
    stdin: opts.stdin ?? 'ignore',
    buffer: false,
    detached: opts.detached ?? false,
    cancelSignal: cancel.signal,
    forceKillAfterDelay: 5_000,
  });
  live.add(p);
  const done = p.then(
    (r) => ({ exitCode: r.exitCode ?? (r.signal ? 128 : -1) }),
    () => ({ exitCode: -1 }),
  );
  void done.finally(() => live.delete(p));
  return {
    pid: p.pid,
    stdout: p.stdout,
    stderr: p.stderr,
    stdin: p.stdin,
    kill: (signal = 'SIGTERM') => void p.kill(signal),
    wait: () => done,
  };
}
