// Calls real CNI plugins the way kubelet does: inside the node's namespace, config on stdin,
// parameters in CNI_* variables, the result as JSON on stdout.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { KernelError } from '../errors.ts';
import { PDEATHSIG, run } from '../kernel/exec.ts';
import { shellQuote } from '../net/shell.ts';
import type { NodeExecutor } from './executor.ts';

export const CNI_PATHS = ['/usr/lib/cni', '/opt/cni/bin'];

/** Where the standard plugins are: $CNILAB_CNI_BIN_DIR (plugins of your own), else Debian's or the usual place. */
export function cniBinDir(): string | undefined {
  const own = process.env.CNILAB_CNI_BIN_DIR;
  return (own ? [own] : CNI_PATHS).find((d) => existsSync(`${d}/bridge`) && existsSync(`${d}/host-local`));
}

export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
}

/** One plugin of a chain: its name in binDir, or the absolute path of one elsewhere (the flannel plugin built by ci/ensure.sh). */
export interface CniLink {
  plugin: string;
  /** Its whole network config: the list's name and cniVersion with the plugin's own entry. */
  config: object;
}

export interface CniCall {
  cmd: 'ADD' | 'DEL';
  node: NodeExecutor;
  pod: NodeExecutor;
  containerId: string;
  ifname: string;
  /** Where the plugins it delegates to are (CNI_PATH). */
  binDir: string;
  /**
   * The plugins of a network config list, as a container runtime runs them (libcni): on ADD in
   * order, each after the first given the previous one's result as prevResult; on DEL in reverse
   * order. (libcni also hands DEL the cached ADD result for cniVersion 0.4.0 and later; cnilab
   * keeps no cache, and the plugins it chains, flannel and portmap, do not need it.)
   */
  chain: readonly CniLink[];
  /** CNI_ARGS, as a kubelet passes them (K8S_POD_NAMESPACE, K8S_POD_NAME, ...): the Calico plugin finds its Pod by them. */
  args?: Readonly<Record<string, string>>;
}

const pathOf = (c: CniCall, l: CniLink) => (l.plugin.startsWith('/') ? l.plugin : `${c.binDir}/${l.plugin}`);

function invocation(c: CniCall): { env: Record<string, string> } {
  // A plugin outside binDir (flannel's) finds the ones it delegates to (bridge, host-local) there.
  const own = [...new Set(c.chain.filter((l) => l.plugin.startsWith('/')).map((l) => dirname(l.plugin)))];
  const env = {
    CNI_COMMAND: c.cmd,
    CNI_CONTAINERID: c.containerId,
    CNI_NETNS: c.pod.netnsPath,
    CNI_IFNAME: c.ifname,
    CNI_PATH: [...own, c.binDir].join(':'),
    ...(c.args
      ? {
          CNI_ARGS: Object.entries(c.args)
            .map(([k, v]) => `${k}=${v}`)
            .join(';'),
        }
      : {}),
  };
  return { env };
}

/** The chain in the order the command runs it. */
const ordered = (c: CniCall) => (c.cmd === 'ADD' ? c.chain : [...c.chain].reverse());

/** A chain's answer: the last plugin's result on ADD, a KernelError that says what the failing plugin said otherwise. */
function outcome(c: CniCall, exitCode: number, stdout: string, stderr: string, failed = 0): CniResult | undefined {
  const { env } = invocation(c);
  const link = ordered(c)[failed] ?? c.chain[0]!;
  const path = pathOf(c, link);
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
      op: `CNI ${c.cmd} ${link.plugin} for ${c.pod.id}`,
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

/**
 * How long one CNI call may take (a whole chain): a kubelet's runtime request timeout
 * (--runtime-request-timeout, 2 min), which bounds the sandbox setup that runs CNI ADD. Calico's
 * plugin talks to the API server several times per ADD; in a guest under emulation, beside a busy
 * host, one ADD was seen to take more than a minute.
 */
const CALL_LIMIT_MS = 120_000;

/** Runs a chain in the node, for the pod's namespace (its executor's netnsPath). */
export async function cniCall(cmd: 'ADD' | 'DEL', args: Omit<CniCall, 'cmd'>): Promise<CniResult | undefined> {
  const c = { ...args, cmd };
  const { env } = invocation(c);
  let prev: string | undefined;
  for (const [k, l] of ordered(c).entries()) {
    const config = cmd === 'ADD' && prev !== undefined ? { ...l.config, prevResult: JSON.parse(prev) } : l.config;
    const r = await c.node.run([pathOf(c, l)], { input: JSON.stringify(config), env, reject: false, op: `CNI ${cmd} ${l.plugin}` });
    if (r.exitCode !== 0) return outcome(c, r.exitCode, r.stdout, r.stderr, k);
    prev = r.stdout;
  }
  return outcome(c, 0, prev ?? '{}', '');
}

/** The shell lines that run call `i`'s chain through nsenter, each result piped into the next as prevResult. */
function chainScript(c: CniCall, i: number): string {
  const { env } = invocation(c);
  const vars = Object.entries(env)
    .map(([k, v]) => `${k}=${shellQuote(v)}`)
    .join(' ');
  const runs = ordered(c).map((l, k) => {
    const cfg = JSON.stringify(l.config);
    // The previous result goes in as an argument, never through the shell's parser: a config is
    // untrusted input (a manifest's cni-conf.json).
    const input =
      k > 0 && c.cmd === 'ADD' ? `printf '%s,"prevResult":%s}' ${shellQuote(cfg.slice(0, -1))} "$r"` : `printf '%s' ${shellQuote(cfg)}`;
    return (
      `r=$(${input} | ${vars} nsenter --net=${shellQuote(c.node.netnsPath)} ${shellQuote(pathOf(c, l))}); rc=$?\n` +
      // A failed plugin ends the script (the rest would build on it); its answer is still read.
      `[ "$rc" = 0 ] || { printf '%s\\n' "$r"; echo; echo "@@rc ${i} $rc ${k}"; exit 0; }\n`
    );
  });
  return `echo '@@cni ${i}'; echo '@@cni ${i}' >&2\nr=''\n${runs.join('')}printf '%s\\n' "$r"; echo; echo "@@rc ${i} 0 0"\n`;
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
  const script = calls.map(chainScript).join('');
  // Each call gets the one-command limit: a script of several is not one command's worth of work.
  const r = await run([...PDEATHSIG, 'sh', '-s'], { input: script, op: 'CNI', timeoutMs: CALL_LIMIT_MS * calls.length });
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
    const m = body === undefined ? null : new RegExp(`^([\\s\\S]*?)\\n@@rc ${i} (\\d+) (\\d+)\\n`).exec(body);
    if (!m) {
      throw new KernelError({
        op: `CNI ${c.cmd} ${c.chain.map((l) => l.plugin).join(' + ')} for ${c.pod.id}`,
        where: c.node.id,
        command: 'sh -s',
        exitCode: -1,
        stderr: r.stderr,
      });
    }
    out.push(outcome(c, Number(m[2]), m[1]!, section(r.stderr, i) ?? '', Number(m[3])));
  }
  return out;
}
