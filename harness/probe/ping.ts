// Reachability and RTT from inside a pod, with ping. A probe that did not run is a ProbeError, never
// "unreachable": ping's exit 2, no statistics line, zero packets sent, a node that is gone or a
// timeout all throw. "Unreachable" means packets were sent and none came back.
import { CnilabError, ProbeError } from '../errors.ts';
import type { NodeExecutor } from '../node/executor.ts';
import { markerHex } from './marker.ts';

export interface PingResult {
  sent: number;
  received: number;
  rttMs?: number;
}

/** The statistics ping prints at the end, or undefined when it printed none. */
export function parsePing(out: string): PingResult | undefined {
  const counts = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out);
  if (!counts) return undefined;
  const rtt = /= [\d.]+\/([\d.]+)\/[\d.]+\/[\d.]+ ms/.exec(out);
  return { sent: Number(counts[1]), received: Number(counts[2]), ...(rtt ? { rttMs: Number(rtt[1]) } : {}) };
}

/** Judges one finished ping: its statistics when it ran, a ProbeError when it did not. */
export function pingOutcome(exitCode: number, stdout: string, stderr: string, what: string): PingResult {
  const said = (stderr.trim() || stdout.trim()).split('\n')[0] || '(no output)';
  // iputils: 0 = replies, 1 = no (or too few) replies by the deadline, 2 = any other error.
  if (exitCode !== 0 && exitCode !== 1) throw new ProbeError(`${what}: ping exited ${exitCode}: ${said}`);
  const r = parsePing(stdout);
  if (!r) throw new ProbeError(`${what}: ping printed no statistics (exit ${exitCode}): ${said}`);
  if (r.sent === 0) throw new ProbeError(`${what}: ping sent no packet: ${said}`);
  if (exitCode === 0 && r.received === 0) throw new ProbeError(`${what}: ping exited 0 with 0 replies`);
  return r;
}

export async function ping(
  exec: NodeExecutor,
  dst: string,
  marker: Uint8Array,
  opts: { count?: number; deadlineS?: number; intervalS?: number } = {},
): Promise<PingResult> {
  const what = `ping ${dst} from ${exec.id}`;
  if (!exec.exists()) throw new ProbeError(`${what}: the node is gone`);
  const count = opts.count ?? 3;
  const deadline = opts.deadlineS ?? 2;
  const argv = [
    'ping',
    '-n',
    '-q',
    '-c',
    String(count),
    '-i',
    String(opts.intervalS ?? 0.05),
    '-W',
    '1',
    '-w',
    String(deadline),
    '-p',
    markerHex(marker),
    dst,
  ];
  try {
    const r = await exec.run(argv, { reject: false, op: 'ping', timeoutMs: (deadline + 10) * 1000 });
    return pingOutcome(r.exitCode, r.stdout, r.stderr, what);
  } catch (e) {
    if (e instanceof ProbeError) throw e;
    // A timeout, a cancelled run, a failed nsenter: the probe did not run.
    throw new ProbeError(`${what}: ${e instanceof CnilabError || e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
}
