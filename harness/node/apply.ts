// Applies a plan: one process per node per phase, nodes in parallel. Inside each node the ops keep
// their order; consecutive ops for the same tool share one batch (`ip -batch`, `bridge -batch`).
import pLimit from 'p-limit';
import { CancelledError, KernelError } from '../errors.ts';
import { pythonHelper } from '../kernel/root.ts';
import { isCancelled, PDEATHSIG, run } from '../kernel/exec.ts';
import { shellQuote } from '../net/shell.ts';
import { phaseOf, renderOp, toolOf, type KernelOp } from '../plan/ops.ts';
import type { ExecutorOf, NodeExecutor } from './executor.ts';

export interface ApplyOptions {
  /** Keep going past "No such ..." / "File exists" answers: used for teardown, never for setup. */
  force?: boolean;
  concurrency?: number;
  /** Checked between batches so a cancelled run stops creating things. */
  aborted?: () => boolean;
}

interface Chunk {
  tool: 'ip' | 'bridge' | 'sysctl';
  ops: KernelOp[];
}

const isRemoval = (op: KernelOp) => op.kind === 'link-del' || ('del' in op && op.del === true);
const TOOL_ORDER = { sysctl: 0, ip: 1, bridge: 2, 'root-ip': 3 } as const;

/**
 * Setup ops of one node regrouped so each tool runs once: sysctls, then every ip line, then
 * every FDB line. That order is always valid for setup (FDB entries need their vxlan device, nothing
 * needs an FDB entry) and turns ~3 processes per peer into 3 per node. Removals keep their order.
 */
export function groupByTool(ops: readonly KernelOp[]): KernelOp[] {
  if (ops.some(isRemoval)) return [...ops];
  return ops
    .map((op, i) => ({ op, i }))
    .sort((a, b) => TOOL_ORDER[toolOf(a.op)] - TOOL_ORDER[toolOf(b.op)] || a.i - b.i)
    .map((x) => x.op);
}

function chunksOf(ops: readonly KernelOp[]): Chunk[] {
  const chunks: Chunk[] = [];
  for (const op of groupByTool(ops)) {
    const tool = toolOf(op);
    if (tool === 'root-ip') throw new Error('netns-add is applied by the backend, not in a node');
    const last = chunks.at(-1);
    if (last && last.tool === tool) last.ops.push(op);
    else chunks.push({ tool, ops: [op] });
  }
  return chunks;
}

/**
 * A shell script running every chunk in order; markers on stderr say which chunk failed. Run
 * inside the node's namespace, or, with `host`, from the host's root namespace: ip and bridge then
 * take `-n NAME` (they enter the namespace themselves), and sysctls, which /proc/sys answers for the
 * reader's own namespace, go through one nsenter per chunk.
 */
export function scriptFor(
  ops: readonly KernelOp[],
  force: boolean,
  host?: { netns: string; path: string; sysctlsDone?: boolean },
): { script: string; chunks: Chunk[] } {
  const chunks = chunksOf(ops);
  const lines: string[] = [force ? 'set +e' : 'set -e'];
  chunks.forEach((c, i) => {
    if (c.tool === 'sysctl' && host?.sysctlsDone) return;
    lines.push(`echo '@@chunk ${i}' >&2`);
    if (c.tool === 'sysctl') {
      const writes = c.ops.flatMap((op) =>
        op.kind === 'sysctl' ? [`echo ${shellQuote(op.value)} > ${shellQuote(`/proc/sys/${op.key.replaceAll('.', '/')}`)}`] : [],
      );
      if (host)
        lines.push(`nsenter --net=${shellQuote(host.path)} sh -s <<'CNILAB_SYSCTL'\n${lines[0]}\n${writes.join('\n')}\nCNILAB_SYSCTL`);
      else lines.push(...writes);
    } else {
      const body = c.ops.map(renderOp).join('\n');
      const where = host ? ` -n ${shellQuote(host.netns)}` : '';
      lines.push(`${c.tool}${where}${force ? ' -force' : ''} -batch - <<'CNILAB_EOF'\n${body}\nCNILAB_EOF`);
    }
  });
  return { script: lines.join('\n') + '\n', chunks };
}

function explain(where: string, chunks: Chunk[], stderr: string, exitCode: number, script: string): KernelError {
  const markers = [...stderr.matchAll(/@@chunk (\d+)/g)];
  const idx = Number(markers.at(-1)?.[1] ?? 0);
  const chunk = chunks[idx];
  const lineNo = Number(/Command failed -:(\d+)/.exec(stderr)?.[1] ?? 0);
  const failing =
    chunk && lineNo > 0 ? renderOp(chunk.ops[lineNo - 1]!) : chunk?.tool === 'sysctl' ? chunk.ops.map(renderOp).join(', ') : undefined;
  const said = stderr.replace(/@@chunk \d+\n?/g, '').trim();
  return new KernelError({
    op: `${chunk?.tool ?? 'apply'} batch`,
    where,
    command: `sh -s (${script.split('\n').length} lines)`,
    exitCode,
    stderr: said,
    ...(failing ? { line: failing } : {}),
  });
}

/** Runs a node's ops as one script through its executor; the error names the failing line. */
export async function applyOps(exec: Pick<NodeExecutor, 'id' | 'run'>, ops: readonly KernelOp[], force = false): Promise<void> {
  if (ops.length === 0) return;
  const { script, chunks } = scriptFor(ops, force);
  const r = await exec.run(['sh', '-s'], { input: script, reject: false, op: 'apply' });
  if (r.exitCode !== 0 && !force) throw explain(exec.id, chunks, r.stderr, r.exitCode, script);
}

/**
 * The setup sysctls of every node the host reaches, in one process (ns-sysctl.py enters each
 * namespace itself): an nsenter + sh per namespace cost ~3 ms each, a third of a build.
 */
export async function writeSysctls(nodes: readonly { exec: NodeExecutor; ops: readonly KernelOp[] }[]): Promise<void> {
  const items = nodes.flatMap((n) =>
    n.ops.some(isRemoval)
      ? []
      : n.ops.flatMap((op) => (op.kind === 'sysctl' ? [{ path: n.exec.netnsPath, key: op.key, value: op.value, op, exec: n.exec }] : [])),
  );
  if (!items.length) return;
  const r = await run([...PDEATHSIG, ...pythonHelper('harness/node/ns-sysctl.py')], {
    input: JSON.stringify(items.map(({ path, key, value }) => ({ path, key, value }))),
    reject: false,
    op: 'sysctl',
  });
  if (r.exitCode === 0) return;
  let failed: { failed?: number; error?: string } = {};
  try {
    failed = JSON.parse(r.stdout) as typeof failed;
  } catch {
    /* a helper that did not answer: its stderr says why */
  }
  const at = items[failed.failed ?? 0]!;
  throw new KernelError({
    op: 'sysctl',
    where: at.exec.id,
    command: `ns-sysctl.py (${items.length} writes)`,
    exitCode: r.exitCode,
    stderr: failed.error ?? r.stderr,
    line: renderOp(at.op),
  });
}

/** Scripts run at once for the nodes the host reaches itself: each keeps a core busy with ip's own work. */
const HOST_WORKERS = 4;

/**
 * Many nodes' ops as one script run from the host; the error names the node and line that failed.
 * With `sysctlsDone`, the setup sysctls (first in every node's order) were written by
 * writeSysctls already.
 */
export async function applyFromHost(
  nodes: readonly { exec: NodeExecutor; ops: readonly KernelOp[] }[],
  force: boolean,
  sysctlsDone = false,
): Promise<void> {
  const parts = nodes
    .filter((n) => n.ops.length)
    .map((n) => ({
      exec: n.exec,
      ...scriptFor(n.ops, force, { netns: n.exec.hostNetns!, path: n.exec.netnsPath, sysctlsDone: sysctlsDone && !n.ops.some(isRemoval) }),
    }));
  if (!parts.length) return;
  const script = parts.map((p, i) => `echo '@@node ${i}' >&2\n${p.script}`).join('');
  const r = await run([...PDEATHSIG, 'sh', '-s'], { input: script, reject: false, op: 'apply' });
  if (r.exitCode === 0 || force) return;
  const at = [...r.stderr.matchAll(/@@node (\d+)/g)].at(-1);
  const part = parts[Number(at?.[1] ?? 0)]!;
  const own = at ? r.stderr.slice(at.index! + at[0].length) : r.stderr;
  throw explain(part.exec.id, part.chunks, own, r.exitCode, part.script);
}

/**
 * Applies ops in phases (veth ends need both namespaces; everything else after them); within a
 * phase, one process per node, in parallel. Phase 0 (namespace creation) is the backend's:
 * `createNodes` makes them all at once.
 */
export async function applyPlan(
  ops: readonly KernelOp[],
  executorOf: ExecutorOf,
  opts: ApplyOptions & { createNodes?: (names: string[]) => Promise<void> } = {},
): Promise<void> {
  const limit = pLimit(opts.concurrency ?? 8);
  const stop = () => opts.aborted?.() || isCancelled();
  const phases = new Map<number, KernelOp[]>();
  for (const op of ops) {
    const p = phaseOf(op);
    if (!phases.has(p)) phases.set(p, []);
    phases.get(p)!.push(op);
  }
  for (const phase of [...phases.keys()].sort((a, b) => a - b)) {
    if (stop()) throw new CancelledError('applying the plan');
    const list = phases.get(phase)!;
    if (phase === 0) {
      if (!opts.createNodes) throw new Error('applyPlan: a plan that creates namespaces needs createNodes');
      await opts.createNodes(list.map((o) => o.netns));
      continue;
    }
    const byNode = new Map<string, KernelOp[]>();
    for (const op of list) {
      if (!byNode.has(op.netns)) byNode.set(op.netns, []);
      byNode.get(op.netns)!.push(op);
    }
    const force = opts.force ?? false;
    // Nodes the host can reach with `ip -n` go in a few scripts (a process spawned from node costs
    // ~6 ms of its CPU: 93 of them were most of a 30-node build); the rest one process each.
    const hosted = [...byNode].filter(([ns]) => executorOf(ns).hostNetns !== undefined);
    const own = [...byNode].filter(([ns]) => executorOf(ns).hostNetns === undefined);
    const workers = Math.min(HOST_WORKERS, hosted.length);
    const groups = Array.from({ length: workers }, (_, w) => hosted.filter((_, i) => i % workers === w));
    // Sysctls come first in a node's setup order: all of them now, in one process (teardown's
    // forced ops keep theirs in the scripts, where a failure does not stop the rest).
    const sysctlsDone = !force && hosted.length > 0;
    if (sysctlsDone) await writeSysctls(hosted.map(([ns, nodeOps]) => ({ exec: executorOf(ns), ops: nodeOps })));
    const results = await Promise.allSettled([
      ...groups.map((g) =>
        stop()
          ? Promise.reject(new CancelledError('applying the plan'))
          : applyFromHost(
              g.map(([ns, nodeOps]) => ({ exec: executorOf(ns), ops: nodeOps })),
              force,
              sysctlsDone,
            ),
      ),
      ...own.map(([ns, nodeOps]) =>
        limit(() => (stop() ? Promise.reject(new CancelledError('applying the plan')) : executorOf(ns).apply(nodeOps, { force }))),
      ),
    ]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed && failed.status === 'rejected') throw failed.reason;
  }
}
