// Reachability and RTT from inside a pod. Each probe fills its ICMP payload with a marker naming the
// pair, so its packets can be told apart in a capture shared by every probe running at once.
import { run } from '../kernel/exec.ts';

export interface PingResult {
  sent: number;
  received: number;
  rttMs?: number;
}

/** 6 marker bytes: a fixed tag, the run's tag byte and the probe index. */
export function probeMarker(runTag: number, index: number): Uint8Array {
  return Uint8Array.of(0xc1, 0x1a, 0xb5, runTag & 255, (index >>> 8) & 255, index & 255);
}

export const markerHex = (m: Uint8Array) => [...m].map((b) => b.toString(16).padStart(2, '0')).join('');

export function parsePing(out: string): PingResult {
  const counts = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out);
  const rtt = /= [\d.]+\/([\d.]+)\/[\d.]+\/[\d.]+ ms/.exec(out);
  return { sent: Number(counts?.[1] ?? 0), received: Number(counts?.[2] ?? 0), ...(rtt ? { rttMs: Number(rtt[1]) } : {}) };
}

export async function ping(netns: string, dst: string, marker: Uint8Array, opts: { count?: number; deadlineS?: number } = {}): Promise<PingResult> {
  const count = opts.count ?? 3;
  const argv = ['ping', '-n', '-q', '-c', String(count), '-i', '0.05', '-W', '1', '-w', String(opts.deadlineS ?? 2), '-p', markerHex(marker), dst];
  const r = await run(argv, { netns, reject: false, op: 'ping', timeoutMs: 15_000 });
  return parsePing(r.stdout);
}
