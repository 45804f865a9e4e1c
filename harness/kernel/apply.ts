// Applies a plan: one process per namespace per phase, namespaces in parallel. Inside each
// namespace the ops keep their order; consecutive ops for the same tool share one batch.
import pLimit from 'p-limit';
import { KernelError } from '../errors.ts';
import { phaseOf, renderOp, toolOf, type KernelOp } from '../plan/ops.ts';
import { run } from './exec.ts';

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
 * Setup ops of one namespace regrouped so each tool runs once: sysctls, then every ip line, then
 * every FDB line. That order is always valid for setup (FDB entries need their vxlan device, nothing
 * needs an FDB entry) and turns ~3 processes per peer into 3 per namespace. Removals keep their order.
 */
export function groupByTool(ops: readonly KernelOp[]): KernelOp[] {
  if (ops.some(isRemoval)) return [...ops];
  return ops.map((op, i) => ({ op, i })).sort((a, b) => TOOL_ORDER[toolOf(a.op)] - TOOL_ORDER[toolOf(b.op)] || a.i - b.i).map((x) => x.op);
}

function chunksOf(ops: readonly KernelOp[]): Chunk[] {
  const chunks: Chunk[] = [];
  for (const op of groupByTool(ops)) {
    const tool = toolOf(op);
    if (tool === 'root-ip') throw new Error('netns-add is applied in phase 0');
    const last = chunks.at(-1);
    if (last && last.tool === tool) last.ops.push(op);
    else chunks.push({ tool, ops: [op] });
  }
  return chunks;
}

const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** A shell script running every chunk in order; markers on stderr say which chunk failed. */
export function scriptFor(ops: readonly KernelOp[], force: boolean): { script: string; chunks: Chunk[] } {
  const chunks = chunksOf(ops);
  const lines: string[] = [force ? 'set +e' : 'set -e'];
  chunks.forEach((c, i) => {
    lines.push(`echo '@@chunk ${i}' >&2`);
    if (c.tool === 'sysctl') {
      for (const op of c.ops) {
        if (op.kind !== 'sysctl') continue;
        lines.push(`echo ${shq(op.value)} > ${shq(`/proc/sys/${op.key.replaceAll('.', '/')}`)}`);
      }
    } else {
      const body = c.ops.map(renderOp).join('\n');
      lines.push(`${c.tool}${force ? ' -force' : ''} -batch - <<'CNILAB_EOF'\n${body}\nCNILAB_EOF`);
    }
  });
  return { script: lines.join('\n') + '\n', chunks };
}

function explain(netns: string, chunks: Chunk[], stderr: string, exitCode: number, script: string): KernelError {
  const markers = [...stderr.matchAll(/@@chunk (\d+)/g)];
  const idx = Number(markers.at(-1)?.[1] ?? 0);
  const chunk = chunks[idx];
  const lineNo = Number(/Command failed -:(\d+)/.exec(stderr)?.[1] ?? 0);
  const failing = chunk && lineNo > 0 ? renderOp(chunk.ops[lineNo - 1]!) : chunk?.tool === 'sysctl' ? chunk.ops.map(renderOp).join(', ') : undefined;
  const said = stderr.replace(/@@chunk \d+\n?/g, '').trim();
  return new KernelError({ op: `${chunk?.tool ?? 'apply'} batch`, netns, command: `nsenter --net=/run/netns/${netns} sh -s (${script.split('\n').length} lines)`, exitCode, stderr: said, ...(failing ? { line: failing } : {}) });
}

export async function applyInNetns(netns: string, ops: readonly KernelOp[], force = false): Promise<void> {
  if (ops.length === 0) return;
  const { script, chunks } = scriptFor(ops, force);
  const r = await run(['sh', '-s'], { netns, input: script, reject: false, op: 'apply' });
  if (r.exitCode !== 0 && !force) throw explain(netns, chunks, r.stderr, r.exitCode, script);
}

export async function createNetns(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await run(['ip', '-batch', '-'], { input: names.map((n) => `netns add ${n}`).join('\n') + '\n', op: 'netns add' });
}

export async function deleteNetns(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await run(['ip', '-force', '-batch', '-'], { input: names.map((n) => `netns del ${n}`).join('\n') + '\n', op: 'netns del', reject: false });
}

/** Applies ops in phases; within a phase, one process per namespace, in parallel. */
export async function applyPlan(ops: readonly KernelOp[], opts: ApplyOptions = {}): Promise<void> {
  const limit = pLimit(opts.concurrency ?? 8);
  const phases = new Map<number, KernelOp[]>();
  for (const op of ops) {
    const p = phaseOf(op);
    if (!phases.has(p)) phases.set(p, []);
    phases.get(p)!.push(op);
  }
  for (const phase of [...phases.keys()].sort((a, b) => a - b)) {
    if (opts.aborted?.()) throw new Error('cancelled');
    const list = phases.get(phase)!;
    if (phase === 0) {
      await createNetns(list.map((o) => o.netns));
      continue;
    }
    const byNs = new Map<string, KernelOp[]>();
    for (const op of list) {
      if (!byNs.has(op.netns)) byNs.set(op.netns, []);
      byNs.get(op.netns)!.push(op);
    }
    const results = await Promise.allSettled([...byNs].map(([ns, nsOps]) => limit(() => (opts.aborted?.() ? Promise.reject(new Error('cancelled')) : applyInNetns(ns, nsOps, opts.force)))));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed && failed.status === 'rejected') throw failed.reason;
  }
}
