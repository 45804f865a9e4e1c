// The measuring tools, run inside lab namespaces: ping for RTT samples and the largest DF packet,
// iperf3 for TCP throughput and CPU. Parsing is pure and tested on real outputs.
import { TimeoutError } from '../errors.ts';
import { run, spawn } from '../kernel/exec.ts';

/** Per-packet RTTs in microseconds from ping's non-quiet output. */
export function parseRttSamples(out: string): number[] {
  return [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
}

export async function rttSamples(netns: string, dst: string, count: number): Promise<number[]> {
  const r = await run(['ping', '-n', '-c', String(count), '-i', '0.005', '-W', '1', dst], { netns, reject: false, op: 'ping', timeoutMs: 10_000 + count * 20 });
  return parseRttSamples(r.stdout);
}

/** Does a DF packet with `payload` ICMP bytes get through and back? */
export async function dfPasses(netns: string, dst: string, payload: number): Promise<boolean> {
  const r = await run(['ping', '-n', '-q', '-M', 'do', '-s', String(payload), '-c', '1', '-W', '1', dst], { netns, reject: false, op: 'ping -M do' });
  return / 1 received/.test(r.stdout);
}

/** Largest ICMP payload that crosses with DF set: binary search in [lo, hi]. */
export async function maxDfPayload(netns: string, dst: string, lo: number, hi: number): Promise<number> {
  if (!(await dfPasses(netns, dst, lo))) return 0;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (await dfPasses(netns, dst, mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export interface IperfResult {
  gbps: number;
  bytes: number;
  seconds: number;
  /** CPU seconds spent by sender and receiver together (from iperf3's utilisation figures). */
  cpuSeconds: number;
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
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  const s = j.end?.sum_received;
  if (!s) throw new Error('iperf3 printed no sum_received');
  const cpu = j.end?.cpu_utilization_percent;
  return { gbps: s.bits_per_second / 1e9, bytes: s.bytes, seconds: s.seconds, cpuSeconds: cpu ? ((cpu.host_total + cpu.remote_total) / 100) * s.seconds : NaN };
}

let nextPort = 5201 + (process.pid % 1000);

/** One iperf3 TCP test: a one-off server in the destination namespace, the client in the source. */
export async function iperf(src: string, dstNetns: string, dstIp: string, opts: { seconds: number; streams: number }): Promise<IperfResult> {
  const port = nextPort++;
  if (nextPort > 65000) nextPort = 5201;
  const server = spawn(['iperf3', '-s', '-1', '--forceflush', '-p', String(port)], { netns: dstNetns });
  try {
    let seen = '';
    const deadline = Date.now() + 5000;
    // iperf3 -s prints "Server listening" once bound; only then may the client connect.
    await new Promise<void>((resolve, reject) => {
      server.stdout?.on('data', (d: Buffer) => {
        seen += d.toString();
        if (/listening/i.test(seen)) resolve();
      });
      const t = setInterval(() => {
        if (Date.now() > deadline) {
          clearInterval(t);
          reject(new TimeoutError('iperf3 server to listen', seen, 5000));
        }
      }, 50);
      void server.finally(() => clearInterval(t));
    });
    const r = await run(['iperf3', '-c', dstIp, '-p', String(port), '-t', String(opts.seconds), '-P', String(opts.streams), '-J'], { netns: src, reject: false, timeoutMs: (opts.seconds + 15) * 1000, op: 'iperf3' });
    return parseIperf(r.stdout);
  } finally {
    server.kill('SIGTERM');
    await server.catch(() => undefined);
  }
}
