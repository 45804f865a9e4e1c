// The one process runner. Every command cnilab starts goes through here, so cancellation on
// Ctrl-C and error reporting are the same everywhere.
import { setMaxListeners } from 'node:events';
import { execa, type ResultPromise } from 'execa';
import { KernelError } from '../errors.ts';

const live = new Set<ResultPromise>();
let cancel = newController();

/** One signal is shared by every command in flight: hundreds of listeners on it are expected. */
function newController(): AbortController {
  const c = new AbortController();
  setMaxListeners(Infinity, c.signal);
  return c;
}

/** Kills every command in flight; later commands still run (teardown needs them). */
export function cancelAll(): void {
  cancel.abort();
  for (const p of live) p.kill('SIGKILL');
  cancel = newController();
}

export interface RunOptions {
  netns?: string;
  input?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** Return a non-zero exit instead of throwing. */
  reject?: boolean;
  op?: string;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs argv, inside a lab namespace when asked (nsenter: no /sys remount, cheaper than ip netns exec). */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = opts.netns ? ['nsenter', `--net=/run/netns/${opts.netns}`, '--', ...argv] : [...argv];
  const p = execa(full[0]!, full.slice(1), {
    input: opts.input,
    reject: false,
    timeout: opts.timeoutMs ?? 60_000,
    env: opts.env,
    extendEnv: true,
    cancelSignal: cancel.signal,
    stripFinalNewline: false,
  });
  live.add(p);
  try {
    const r = await p;
    const out = { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
    if (r.timedOut) throw new KernelError({ op: opts.op ?? argv[0]!, netns: opts.netns, command: full.join(' '), stderr: `timed out after ${opts.timeoutMs ?? 60_000} ms`, exitCode: out.exitCode });
    if (out.exitCode !== 0 && opts.reject !== false) {
      throw new KernelError({ op: opts.op ?? argv[0]!, netns: opts.netns, command: full.join(' '), stderr: out.stderr || out.stdout, exitCode: out.exitCode });
    }
    return out;
  } finally {
    live.delete(p);
  }
}

/** Starts a long-running process (tcpdump, bird, iperf3 -s) and hands back its handle. */
export function spawn(argv: readonly string[], opts: { netns?: string; env?: Record<string, string> } = {}): ResultPromise {
  const full = opts.netns ? ['nsenter', `--net=/run/netns/${opts.netns}`, '--', ...argv] : [...argv];
  const p = execa(full[0]!, full.slice(1), { reject: false, env: opts.env, extendEnv: true, buffer: { stdout: false, stderr: true } as never, cancelSignal: cancel.signal });
  live.add(p);
  void p.finally(() => live.delete(p));
  return p;
}
