// The measuring tools, run in a node through its executor: ping for RTT samples and the largest DF
// packet, iperf3 for TCP throughput and CPU. Parsing is pure and tested on real outputs.
import { LabError, TimeoutError } from '../errors.ts';
import type { NodeExecutor } from '../node/executor.ts';
import type { IperfResult } from '../results/samples.ts';
import { pingOutcome } from './ping.ts';

/** Per-packet RTTs in microseconds from ping's non-quiet output. */
export function parseRttSamples(out: string): number[] {
  return [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
}

/** RTT samples; a ping that did not run (exit 2, no statistics, nothing sent) is a ProbeError, never "no samples". */
export async function rttSamples(exec: NodeExecutor, dst: string, count: number): Promise<number[]> {
  // Every 2 ms (root may go that low): 50 samples in 0.1 s, and no two in flight at once.
  const r = await exec.run(['ping', '-n', '-c', String(count), '-i', '0.002', '-W', '1', dst], {
    reject: false,
    op: 'ping',
    timeoutMs: 10_000 + count * 20,
  });
  pingOutcome(r.exitCode, r.stdout, r.stderr, `RTT samples to ${dst} from ${exec.id}`);
  return parseRttSamples(r.stdout);
}

/**
 * Does a DF packet with `payload` ICMP bytes get through and back? Too big for the path is ping's
 * exit 1 with "0 received": a verdict. A ping that did not run throws: it must not shrink the MTU found.
 * `tries` > 1: one lost packet does not read as "too big" (too big is answered at once: the node's
 * "frag needed", then the sender's own "message too long").
 */
export async function dfPasses(exec: NodeExecutor, dst: string, payload: number, tries = 1): Promise<boolean> {
  const r = await exec.run(['ping', '-n', '-q', '-M', 'do', '-s', String(payload), '-c', String(tries), '-i', '0.2', '-W', '1', dst], {
    reject: false,
    op: 'ping -M do',
    timeoutMs: 10_000,
  });
  return pingOutcome(r.exitCode, r.stdout, r.stderr, `DF ping of ${payload} bytes to ${dst} from ${exec.id}`).received > 0;
}

/** The MTU of a device in the executor's namespace (a pod's eth0). */
export async function linkMtu(exec: NodeExecutor, dev: string): Promise<number> {
  const link = JSON.parse((await exec.run(['ip', '-json', 'link', 'show', dev])).stdout) as { mtu: number }[];
  return link[0]!.mtu;
}

/**
 * Largest ICMP payload that crosses with DF set: binary search in [lo, hi]. With a `guess` (the
 * payload the pod MTU allows), two probes settle the usual case: it passes and one byte more does not.
 */
export async function maxDfPayload(exec: NodeExecutor, dst: string, lo: number, hi: number, guess?: number): Promise<number> {
  if (guess !== undefined && guess > lo && guess < hi) {
    if (await dfPasses(exec, dst, guess)) {
      if (!(await dfPasses(exec, dst, guess + 1))) return guess;
      lo = guess + 1;
    } else hi = guess - 1;
  }
  if (!(await dfPasses(exec, dst, lo))) return 0;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (await dfPasses(exec, dst, mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

interface IperfJson {
  error?: string;
  end?: {
    sum_received?: { bits_per_second: number; bytes: number; seconds: number };
    cpu_utilization_percent?: { host_total: number; remote_total: number };
  };
}

export function parseIperf(json: string): IperfResult {
  const j = JSON.parse(json) as IperfJson;
  if (j.error) throw new LabError(`iperf3: ${j.error}`);
  const s = j.end?.sum_received;
  if (!s) throw new LabError('iperf3 printed no sum_received');
  const cpu = j.end?.cpu_utilization_percent;
  return {
    gbps: s.bits_per_second / 1e9,
    bytes: s.bytes,
    seconds: s.seconds,
    cpuSeconds: cpu ? ((cpu.host_total + cpu.remote_total) / 100) * s.seconds : NaN,
  };
}

let nextPort = 5201 + (process.pid % 1000);
const takePort = () => {
  const port = nextPort++;
  if (nextPort > 65000) nextPort = 5201;
  return port;
};

/** iperf3 -A: each end on its own CPU, so a 2-core machine measures the data path, not the scheduler. */
const aff = (cpu: number | undefined) => (cpu === undefined ? [] : ['-A', String(cpu)]);

/** An iperf3 server in a node, listening: one test (`oneOff`) or any number, one after the other. */
export interface IperfServer {
  port: number;
  close(): Promise<void>;
}

export async function startIperfServer(dst: NodeExecutor, opts: { cpu?: number | undefined; oneOff: boolean }): Promise<IperfServer> {
  const port = takePort();
  const server = dst.spawn(['iperf3', '-s', ...(opts.oneOff ? ['-1'] : []), '--forceflush', '-p', String(port), ...aff(opts.cpu)]);
  const close = async () => {
    server.kill('SIGTERM');
    await server.wait();
  };
  try {
    let seen = '';
    // iperf3 -s prints "Server listening" once bound; only then may the client connect.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError(`iperf3 server to listen in ${dst.id}`, seen, 5000)), 5000);
      server.stdout?.on('data', (d: Buffer) => {
        seen += d.toString();
        if (/listening/i.test(seen)) {
          clearTimeout(timer);
          resolve();
        }
      });
      void server.wait().then(() => {
        clearTimeout(timer);
        reject(new Error(`iperf3 server in ${dst.id} exited before listening: ${seen.trim()}`));
      });
    });
  } catch (e) {
    await close();
    throw e;
  }
  return { port, close };
}

/**
 * How long an iperf3 test runs: whole seconds (-t; iperf3 3.12 reads -t as an integer), or a byte
 * count (-n) sized from the path's rate measured before, for a test of a fraction of a second.
 */
export type IperfLength = { seconds: number } | { bytes: number; expectSeconds: number };

export function iperfLengthArgs(l: IperfLength): string[] {
  return 'bytes' in l ? ['-n', String(Math.max(1, Math.round(l.bytes)))] : ['-t', String(Math.max(1, Math.ceil(l.seconds)))];
}

/** The length of a test of `seconds` on a path whose rate so far is `gbps` (none yet: whole seconds). */
export function iperfLength(seconds: number, gbps: number | undefined): IperfLength {
  if (!gbps || !(gbps > 0)) return { seconds: Math.max(1, Math.ceil(seconds)) };
  return { bytes: Math.max(1e6, (gbps * 1e9 * seconds) / 8), expectSeconds: seconds };
}

/** One iperf3 TCP test from `src` to a listening server. */
export async function iperfClient(
  src: NodeExecutor,
  dstIp: string,
  port: number,
  opts: { length: IperfLength; streams: number; cpu?: number | undefined },
): Promise<IperfResult> {
  const argv = ['iperf3', '-c', dstIp, '-p', String(port), ...iperfLengthArgs(opts.length), '-P', String(opts.streams), '-J'];
  const expect = 'bytes' in opts.length ? opts.length.expectSeconds : opts.length.seconds;
  // A byte count on a path that slowed down takes longer: room for a rate ten times lower.
  const timeoutMs = (expect * ('bytes' in opts.length ? 10 : 1) + 15) * 1000;
  const r = await src.run([...argv, ...aff(opts.cpu)], { reject: false, timeoutMs, op: 'iperf3' });
  return parseIperf(r.stdout);
}

/** One iperf3 TCP test: a one-off server in the destination node, the client in the source. */
export async function iperf(
  src: NodeExecutor,
  dst: NodeExecutor,
  dstIp: string,
  opts: { length: IperfLength; streams: number; pin?: { client: number; server: number } },
): Promise<IperfResult> {
  const server = await startIperfServer(dst, { cpu: opts.pin?.server, oneOff: true });
  try {
    return await iperfClient(src, dstIp, server.port, { length: opts.length, streams: opts.streams, cpu: opts.pin?.client });
  } finally {
    await server.close();
  }
}

/**
 * `perf stat -x,` output (stderr): the cycles counted, or perf's word for why none were
 * ("<not supported>" in a VM without a virtual PMU, "<not counted>").
 */
export function parsePerfCycles(stderr: string): number | string {
  for (const line of stderr.split('\n')) {
    const f = line.split(',');
    if (f[2] !== 'cycles' && !f[2]?.startsWith('cycles')) continue;
    const n = Number(f[0]);
    return Number.isFinite(n) && f[0]!.trim() !== '' ? n : f[0]!.trim() || 'nothing';
  }
  return 'no cycles line';
}

/** Can this machine count CPU cycles? Asked once per sampling; the answer goes in the report. */
export async function cyclesCountable(exec: NodeExecutor): Promise<{ ok: true } | { ok: false; why: string }> {
  const r = await exec
    .run(['perf', 'stat', '-x,', '-e', 'cycles', '--', 'true'], { reject: false, op: 'perf stat', timeoutMs: 10_000 })
    .catch((e: unknown) => ({ exitCode: -1, stdout: '', stderr: e instanceof Error ? e.message : String(e) }));
  if (r.exitCode !== 0)
    return { ok: false, why: `perf stat did not run (${(r.stderr.trim().split('\n')[0] ?? '') || `exit ${r.exitCode}`})` };
  const c = parsePerfCycles(r.stderr);
  return typeof c === 'number' ? { ok: true } : { ok: false, why: `perf stat counts no cycles here (${c}: no PMU in this VM)` };
}

/**
 * Every CPU's cycles while `f` runs (perf stat -a, stopped with SIGINT when `f` is done): the data
 * path's softirq work on both cores included, which neither end's own accounting fully sees.
 */
export async function countCycles<T>(exec: NodeExecutor, f: () => Promise<T>): Promise<{ value: T; cycles: number | undefined }> {
  const p = exec.spawn(['perf', 'stat', '-a', '-x,', '-e', 'cycles']);
  let err = '';
  p.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  // perf opens its counters before it waits for the signal: give it that moment.
  await new Promise((r) => setTimeout(r, 50));
  try {
    const value = await f();
    p.kill('SIGINT');
    await p.wait();
    const c = parsePerfCycles(err);
    return { value, cycles: typeof c === 'number' ? c : undefined };
  } catch (e) {
    p.kill('SIGKILL');
    await p.wait();
    throw e;
  }
}
