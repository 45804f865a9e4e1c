// Calls real CNI plugins the way kubelet does: inside the node's namespace, config on stdin,
// parameters in CNI_* variables, the result as JSON on stdout.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { KernelError } from '../errors.ts';
import { PDEATHSIG, run } from '../kernel/exec.ts';
import { shellQuote } from '../net/shell.ts';
import type { NodeExecutor } from './executor.ts';

export const CNI_PATHS = ['/usr/lib/cni', '/opt/cni/bin'];

export function cniBinDir(): string | undefined {
  return CNI_PATHS.find((d) => existsSync(`${d}/bridge`) && existsSync(`${d}/host-local`));
}

export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
}

export interface CniCall {
  cmd: 'ADD' | 'DEL';
  node: NodeExecutor;
  pod: NodeExecutor;
  containerId: string;
  ifname: string;
  config: object;
  /** Where the plugins it delegates to are (CNI_PATH). */
  binDir: string;
  /** A plugin name in binDir, or the absolute path of one elsewhere (a user's own flannel plugin). */
  plugin: string;
}

function invocation(c: CniCall): { path: string; env: Record<string, string> } {
  const path = c.plugin.startsWith('/') ? c.plugin : `${c.binDir}/${c.plugin}`;
  const env = {
    CNI_COMMAND: c.cmd,
    CNI_CONTAINERID: c.containerId,
    CNI_NETNS: c.pod.netnsPath,
    CNI_IFNAME: c.ifname,
    CNI_PATH: c.plugin.startsWith('/') ? `${dirname(c.plugin)}:${c.binDir}` : c.binDir,
  };
  return { path, env };
}

/** A plugin's answer: its result on ADD, a KernelError that says what the plugin said otherwise. */
function outcome(c: CniCall, exitCode: number, stdout: string, stderr: string): CniResult | undefined {
  const { path, env } = invocation(c);
  if (exitCode !== 0) {
    // Plugins report errors as JSON on stdout ({code, msg, details}).
    let said = stderr.trim() || stdout.trim();
    try {
      const e = JSON.parse(stdout) as { msg?: string; details?: string };
      said = [e.msg, e.details].filter(Boolean).join(': ') || said;
    } catch {
      /* not JSON: keep the raw text */
    }
    throw new KernelError({
      op: `CNI ${c.cmd} ${c.plugin} for ${c.pod.id}`,
      where: c.node.id,
      command: `${path} (${Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')})`,
      exitCode,
      stderr: said,
    });
  }
  return c.cmd === 'ADD' ? (JSON.parse(stdout) as CniResult) : undefined;
}

/** Runs a plugin in the node, for the pod's namespace (its executor's netnsPath). */
export async function cniCall(cmd: 'ADD' | 'DEL', args: Omit<CniCall, 'cmd'>): Promise<CniResult | undefined> {
  const c = { ...args, cmd };
  const { path, env } = invocation(c);
  const r = await c.node.run([path], { input: JSON.stringify(c.config), env, reject: false, op: `CNI ${cmd} ${c.plugin}` });
  return outcome(c, r.exitCode, r.stdout, r.stderr);
}

/**
 * Calls in order, as one shell script from the host when every node is a namespace the host can
 * enter (a node's plugin runs inside it through nsenter, exactly as cniCall does): one process
 * spawned instead of one per pod. Stops at the first failure, which it throws; otherwise the
 * results in order.
 */
export async function cniCalls(calls: readonly CniCall[]): Promise<(CniResult | undefined)[]> {
  if (!calls.every((c) => c.node.hostNetns !== undefined)) {
    const out: (CniResult | undefined)[] = [];
    for (const c of calls) out.push(await cniCall(c.cmd, c));
    return out;
  }
  const script = calls
    .map((c, i) => {
      const { path, env } = invocation(c);
      const vars = Object.entries(env)
        .map(([k, v]) => `${k}=${shellQuote(v)}`)
        .join(' ');
      const cfg = JSON.stringify(c.config);
      const call = `${vars} nsenter --net=${shellQuote(c.node.netnsPath)} ${shellQuote(path)} <<'CNILAB_CNI'\n${cfg}\nCNILAB_CNI`;
      // A failed call ends the script (the rest would build on it); its answer is still read.
      return `echo '@@cni ${i}'; echo '@@cni ${i}' >&2\n${call}\nrc=$?\necho; echo "@@rc ${i} $rc"\n[ "$rc" = 0 ] || exit 0\n`;
    })
    .join('');
  const r = await run([...PDEATHSIG, 'sh', '-s'], { input: script, op: 'CNI' });
  const section = (text: string, i: number) => {
    const from = text.indexOf(`@@cni ${i}\n`);
    if (from < 0) return undefined;
    const rest = text.slice(from + `@@cni ${i}\n`.length);
    const next = rest.indexOf(`@@cni ${i + 1}\n`);
    return next < 0 ? rest : rest.slice(0, next);
  };
  const out: (CniResult | undefined)[] = [];
  for (const [i, c] of calls.entries()) {
    const body = section(r.stdout, i);
    const m = body === undefined ? null : new RegExp(`^([\\s\\S]*?)\\n@@rc ${i} (\\d+)\\n`).exec(body);
    if (!m) {
      throw new KernelError({
        op: `CNI ${c.cmd} ${c.plugin} for ${c.pod.id}`,
        where: c.node.id,
        command: 'sh -s',
        exitCode: -1,
        stderr: r.stderr,
      });
    }
    out.push(outcome(c, Number(m[2]), m[1]!, section(r.stderr, i) ?? ''));
  }
  return out;
}
