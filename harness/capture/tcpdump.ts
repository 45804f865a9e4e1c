// tcpdump in a node, through its executor. --immediate-mode: without it packets wait in the kernel
// ring until a block fills or its timeout passes, and a short probe ends before tcpdump has seen any
// of them. start() resolves once tcpdump says it is listening, so no probe is sent before the
// capture can see it; stop() waits until the file stops growing before it signals (tcpdump loses the
// last packets when killed at once).
import { statSync } from 'node:fs';
import { LabError, TimeoutError } from '../errors.ts';
import type { NodeExecutor } from '../node/executor.ts';

export interface CaptureSpec {
  exec: NodeExecutor;
  iface: string;
  file: string;
  /** A pcap filter, e.g. "not arp". */
  filter?: string;
  snaplen?: number;
}

export interface RunningCapture {
  spec: CaptureSpec;
  stop(): Promise<{ file: string; packets?: number; dropped?: number }>;
}

export async function startCapture(spec: CaptureSpec, timeoutMs = 5000): Promise<RunningCapture> {
  // The ring has slots of snaplen bytes: tcpdump's default 262144 leaves 8 slots in its 2 MiB
  // buffer and a burst of probes overflows it ("packets dropped by kernel"). A snaplen that fits an
  // encapsulated MTU-sized packet and a 16 MiB buffer leave thousands.
  const argv = [
    'tcpdump',
    '-i',
    spec.iface,
    '--immediate-mode',
    '-U',
    '-n',
    '-Z',
    'root',
    '-s',
    String(spec.snaplen ?? 9216),
    '-B',
    '16384',
    '--time-stamp-precision=nano',
    '-w',
    spec.file,
  ];
  if (spec.filter) argv.push(spec.filter);
  const proc = spec.exec.spawn(argv);
  const where = `${spec.exec.id}/${spec.iface}`;
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new TimeoutError(`tcpdump to listen on ${where}`, stderr, timeoutMs));
    }, timeoutMs);
    proc.stderr?.on('data', () => {
      if (/listening on/.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void proc.wait().then((r) => {
      clearTimeout(timer);
      reject(new Error(`tcpdump on ${where} exited (${r.exitCode}) before listening: ${stderr.trim()}`));
    });
  });
  return {
    spec,
    async stop() {
      await settled(spec.file);
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await proc.wait();
      clearTimeout(killer);

      const m = /(\d+) packets? captured/.exec(stderr);
      const d = /(\d+) packets? dropped by kernel/.exec(stderr);
      return { file: spec.file, ...(m ? { packets: Number(m[1]) } : {}), ...(d ? { dropped: Number(d[1]) } : {}) };
    },
  };
}

/**
 * Waits until the capture file has stopped growing: -U writes each packet as it comes, so a file
 * unchanged for SILENCE_MS holds everything that had crossed the wire (the probes are done by now:
 * their replies came back, or their deadline passed). Never longer than MAX_DRAIN_MS, the old
 * fixed wait; tcpdump loses the last packets when signalled while they are still in its ring.
 */
const SILENCE_MS = 30;
const MAX_DRAIN_MS = 150;
async function settled(file: string): Promise<void> {
  const size = () => {
    try {
      return statSync(file).size;
    } catch {
      return -1;
    }
  };
  const until = performance.now() + MAX_DRAIN_MS;
  let last = size();
  let quietSince = performance.now();
  while (performance.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
    const now = size();
    if (now !== last) {
      last = now;
      quietSince = performance.now();
    } else if (performance.now() - quietSince >= SILENCE_MS) return;
  }
}

/**
 * A capture whose file does not hold what tcpdump captured. tcpdump does not check its writes
 * (pcap_dump): on a full disk it goes on counting packets it never wrote, so the file is read back
 * and its records counted against tcpdump's own "packets captured".
 */
export class CaptureError extends LabError {}
