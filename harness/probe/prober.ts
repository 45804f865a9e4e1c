// The long-lived prober (icmp-prober.py): one process pings from every source namespace at once,
// a round of probes per request. Sources are reached through their node executors' namespace files,
// so a guest's agent or any executor that has a namespace file probes the same way. A round that
// did not run (the prober died, timed out, answered garbage) is a ProbeError for each of its probes,
// never "unreachable".
import { ProbeError } from '../errors.ts';
import { pythonHelper } from '../kernel/root.ts';
import { spawn, type Spawned } from '../kernel/exec.ts';
import type { NodeExecutor } from '../node/executor.ts';

/** ICMP payload bytes, like ping's 56: the marker repeated, so a capture finds it at offset 0. */
export const PAYLOAD_BYTES = 56;

export function markerPayload(marker: Uint8Array, size = PAYLOAD_BYTES): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = marker[i % marker.length]!;
  return out;
}

export interface Probe {
  from: NodeExecutor;
  dst: string;
  /** The echo payload (the capture finds the probe by it). */
  payload: Uint8Array;
  count: number;
}

export interface ProbeReply {
  sent: number;
  received: number;
  /** One per reply, in the order they came. */
  rttsMs: number[];
}

export type ProbeAnswer = ProbeReply | { error: string };

export interface RoundOptions {
  /** Between a probe's echo requests (every probe's k-th request leaves together). */
  intervalMs?: number;
  /** How long a probe waits for replies after its last request. */
  deadlineMs: number;
}

/** One frame out of one interface of a node, after a round: the captures there must contain it. */
export interface EndMark {
  from: NodeExecutor;
  iface: string;
  payload: Uint8Array;
}

export interface Prober {
  round(probes: readonly Probe[], opts: RoundOptions): Promise<ProbeAnswer[]>;
  /** Sends each end mark; answers, per mark, why it was not sent (undefined when it was). */
  mark(marks: readonly EndMark[]): Promise<(string | undefined)[]>;
  close(): Promise<void>;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * Starts the prober process; close() ends it (it also exits when this process goes: EOF on its stdin).
 * `owner` (the lab's namespace prefix) goes on its command line, so `ps` and the leak tests see whose it is.
 */
export function startProber(owner: string): Prober {
  const [python, ...args] = pythonHelper('harness/probe/icmp-prober.py');
  const proc: Spawned = spawn([python!, '-u', ...args, owner], { stdin: 'pipe' });
  const pending: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  let buf = '';
  let stderr = '';
  let dead: string | undefined;
  proc.stdout?.setEncoding('utf8');
  proc.stdout?.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      pending.shift()?.resolve(line);
    }
  });
  proc.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-2000);
  });
  void proc.wait().then(({ exitCode }) => {
    dead = `the prober exited (${exitCode})${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ''}`;
    for (const p of pending.splice(0)) p.reject(new ProbeError(dead));
  });

  /** Sends one request line and waits for its answer line; a prober that dies or hangs is a ProbeError. */
  function ask(req: unknown, limitMs: number): Promise<string> {
    if (dead) return Promise.reject(new ProbeError(dead));
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ProbeError(`the prober did not answer within ${limitMs} ms`)), limitMs);
      pending.push({
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      proc.stdin?.write(`${JSON.stringify(req)}\n`);
    });
  }

  async function round(probes: readonly Probe[], opts: RoundOptions): Promise<ProbeAnswer[]> {
    if (!probes.length) return [];
    const sources: Record<string, string> = {};
    for (const p of probes) sources[p.from.id] = p.from.netnsPath;
    const interval = opts.intervalMs ?? 10;
    const req = {
      sources,
      probes: probes.map((p) => ({ src: p.from.id, dst: p.dst, payload: hex(p.payload), count: p.count })),
      intervalMs: interval,
      deadlineMs: opts.deadlineMs,
    };
    const maxCount = Math.max(...probes.map((p) => p.count));
    // The prober paces itself; this only catches one that hangs.
    const limitMs = maxCount * interval + opts.deadlineMs + 20_000;
    try {
      return parseAnswer(await ask(req, limitMs), probes.length);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      return probes.map(() => ({ error: why }));
    }
  }

  async function mark(marks: readonly EndMark[]): Promise<(string | undefined)[]> {
    if (!marks.length) return [];
    const req = { marks: marks.map((m) => ({ netns: m.from.netnsPath, iface: m.iface, payload: hex(m.payload) })) };
    try {
      return parseMarked(await ask(req, 20_000), marks.length);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      return marks.map(() => why);
    }
  }

  return {
    round,
    mark,
    close: async () => {
      proc.stdin?.end();
      const t = setTimeout(() => proc.kill('SIGKILL'), 2_000);
      await proc.wait();
      clearTimeout(t);
    },
  };
}

/** One answer line, checked: anything but a result per probe makes every probe an error. */
export function parseAnswer(line: string, n: number): ProbeAnswer[] {
  const fail = (why: string) => Array.from({ length: n }, () => ({ error: `prober: ${why}` }));
  let a: unknown;
  try {
    a = JSON.parse(line);
  } catch {
    return fail(`not JSON: ${line.slice(0, 80)}`);
  }
  const o = a as { results?: unknown; error?: unknown };
  if (typeof o.error === 'string') return fail(o.error);
  if (!Array.isArray(o.results) || o.results.length !== n) return fail(`expected ${n} results`);
  return o.results.map((r: Record<string, unknown>): ProbeAnswer => {
    if (typeof r.error === 'string') return { error: r.error };
    if (typeof r.sent !== 'number' || typeof r.received !== 'number' || !Array.isArray(r.rttsMs))
      return { error: 'prober: malformed result' };
    return { sent: r.sent, received: r.received, rttsMs: r.rttsMs as number[] };
  });
}

/** The answer to a marks request: anything but one entry per mark makes every mark unsent. */
export function parseMarked(line: string, n: number): (string | undefined)[] {
  let a: { marked?: unknown; error?: unknown };
  try {
    a = JSON.parse(line) as typeof a;
  } catch {
    return Array.from({ length: n }, () => `prober: not JSON: ${line.slice(0, 80)}`);
  }
  if (typeof a.error === 'string') return Array.from({ length: n }, () => `prober: ${a.error}`);
  if (!Array.isArray(a.marked) || a.marked.length !== n) return Array.from({ length: n }, () => `prober: expected ${n} marks`);
  return a.marked.map((m: unknown) => (typeof m === 'string' ? m : m === null ? undefined : 'prober: malformed mark'));
}

/** An answer as the check uses it: received > 0 is reachable; an error stays an error. */
export function answerOutcome(a: ProbeAnswer): { reachable: boolean; rttMs?: number } | { error: string } {
  if ('error' in a) return { error: a.error };
  if (a.received > a.sent) return { error: `prober: ${a.received} replies to ${a.sent} requests` };
  const mean = a.rttsMs.length ? a.rttsMs.reduce((x, y) => x + y, 0) / a.rttsMs.length : undefined;
  return { reachable: a.received > 0, ...(mean !== undefined ? { rttMs: Math.round(mean * 1000) / 1000 } : {}) };
}
