// The node executor for a local network namespace: commands enter it with nsenter (no /sys remount,
// cheaper than `ip netns exec`), and the namespace itself is a file under /run/netns.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { CancelledError } from '../errors.ts';
import { isCancelled, PDEATHSIG, run, spawn, type SpawnOptions } from '../kernel/exec.ts';
import type { KernelOp } from '../plan/ops.ts';
import { netnsPath } from '../plan/names.ts';
import { applyOps } from './apply.ts';
import type { ExecOptions, NodeExecutor } from './executor.ts';

export { NETNS_DIR, netnsPath } from '../plan/names.ts';

/**
 * Any network namespace the host can name by a file: a lab's under /run/netns, or one inside a
 * container (a kind node's /proc/PID/ns/net, a pod's netns file under that node's /proc/PID/root).
 */
export class NsenterExecutor implements NodeExecutor {
  private readonly prefix: string[];
  readonly hostNetns?: string;

  constructor(
    readonly id: string,
    readonly netnsPath: string,
  ) {
    this.prefix = ['nsenter', `--net=${this.netnsPath}`, '--'];
  }

  run(argv: readonly string[], opts: ExecOptions = {}) {
    return run([...this.prefix, ...argv], { ...opts, op: opts.op ?? argv[0]!, where: `netns ${this.id}` });
  }

  /**
   * Long-running children (tcpdump, iperf3 -s) die with this process even on SIGKILL: setpriv sets
   * PR_SET_PDEATHSIG, which survives the exec of nsenter and of the tool (neither is set-user-ID).
   */
  spawn(argv: readonly string[], opts: SpawnOptions = {}) {
    return spawn([...PDEATHSIG, ...this.prefix, ...argv], opts);
  }

  apply(ops: readonly KernelOp[], opts: { force?: boolean } = {}) {
    return applyOps(this, ops, opts.force ?? false);
  }

  /** Files are the host's: a namespace shares the mount namespace with us. */
  readFile(path: string) {
    return readFile(path, 'utf8');
  }

  exists() {
    return existsSync(this.netnsPath);
  }
}

/** A lab's own namespace, by its name under /run/netns: the host enters it by name too (`ip -n`). */
export class NetnsExecutor extends NsenterExecutor {
  override readonly hostNetns: string;
  constructor(id: string) {
    super(id, netnsPath(id));
    this.hostNetns = id;
  }
}

const cache = new Map<string, NetnsExecutor>();
/** The executor of a namespace by name (one object per name: cheap to ask for again). */
export function netnsExecutor(name: string): NetnsExecutor {
  let e = cache.get(name);
  if (!e) {
    e = new NetnsExecutor(name);
    cache.set(name, e);
  }
  return e;
}

/** Creates namespaces in one `ip -batch` process. */
export async function createNetns(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  // After a cancel, teardown may already have deleted what it owns: creating now would leak.
  if (isCancelled()) throw new CancelledError('netns add');
  await run(['ip', '-batch', '-'], { input: names.map((n) => `netns add ${n}`).join('\n') + '\n', op: 'netns add' });
}

/** Deletes namespaces in one process; names already gone are fine. */
export async function deleteNetns(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await run(['ip', '-force', '-batch', '-'], {
    input: names.map((n) => `netns del ${n}`).join('\n') + '\n',
    op: 'netns del',
    reject: false,
  });
}
