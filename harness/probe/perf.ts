// The measuring tools, run in a node through its executor: ping for RTT samples and the largest DF
// packet, iperf3 for TCP throughput and CPU. Parsing is pure and tested on real outputs.
import { TimeoutError } from '../errors.ts';
import type { NodeExecutor } from '../node/executor.ts';
import type { IperfResult } from '../results/samples.ts';
import { pingOutcome } from './ping.ts';

/** Per-packet RTTs in microseconds from ping's non-quiet output. */
export function parseRttSamples(out: string): number[] {
  return [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
}

/** RTT samples; a ping that did not run (exit 2, no statistics, nothing sent) is a ProbeError, never "no samples". */
export async function rttSamples(exec: NodeExecutor, dst: string, count: number): Promise<number[]> {
  const r = await exec.run(['ping', '-n', '-c', String(count), '-i', '0.005', '-W', '1', dst], {
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

/** Largest ICMP payload that crosses with DF set: binary search in [lo, hi]. */
export async function maxDfPayload(exec: NodeExecutor, dst: string, lo: number, hi: number): Promise<number> {
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
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  const s = j.end?.sum_received;
  if (!s) throw new Error('iperf3 printed no sum_received');
  const cpu = j.end?.cpu_utilization_percent;
  return {
    gbps: s.bits_per_second / 1e9,
    bytes: s.bytes,
    seconds: s.seconds,
    cpuSeconds: cpu ? ((cpu.host_total + cpu.remote_total) / 100) * s.seconds : NaN,
  };
}

let nextPort = 5201 + (process.pid % 1000);

/** One iperf3 TCP test: a one-off server in the destination node, the client in the source. */
export async function iperf(
  src: NodeExecutor,
  dst: NodeExecutor,
  dstIp: string,
  opts: { seconds: number; streams: number; pin?: { client: number; server: number } },
): Promise<IperfResult> {
  // iperf3 -A: each end on its own CPU, so a 2-core machine measures the data path, not the scheduler.
  const aff = (cpu: number | undefined) => (cpu === undefined ? [] : ['-A', String(cpu)]);
  const port = nextPort++;
  if (nextPort > 65000) nextPort = 5201;
  const server = dst.spawn(['iperf3', '-s', '-1', '--forceflush', '-p', String(port), ...aff(opts.pin?.server)]);
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
    const argv = ['iperf3', '-c', dstIp, '-p', String(port), '-t', String(opts.seconds), '-P', String(opts.streams), '-J'];
    const r = await src.run([...argv, ...aff(opts.pin?.client)], {
      reject: false,
      timeoutMs: (opts.seconds + 15) * 1000,
      op: 'iperf3',
    });
    return parseIperf(r.stdout);
  } finally {
    server.kill('SIGTERM');
    await server.wait();
  }
}
