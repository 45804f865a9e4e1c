// tcpdump in a node, through its executor. --immediate-mode: without it packets wait in the kernel
// ring until a block fills or its timeout passes, and a short probe ends before tcpdump has seen any
// of them. start() resolves once tcpdump says it is listening, so no probe is sent before the
// capture can see it. stop() is told the end marker of the round (a frame sent out of the captured
// interface after the last probe) and signals tcpdump only once the file holds it: the kernel hands
// a capture its packets in order, so a file holding the marker holds every earlier packet that the
// kernel did not count as dropped. Without it, tcpdump is signalled while the probe's packets can
// still be in its ring, and they are lost uncounted (seen in a TCG guest under load: 80 ms of a probe
// round in the file).
import { open } from 'node:fs/promises';
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

export interface StoppedCapture {
  file: string;
  /** tcpdump's own "packets captured" and "packets dropped by kernel", when it lived to print them. */
  packets?: number;
  dropped?: number;
  /** Whether the file held the end marker before tcpdump was signalled (only when one was asked for). */
  sawEnd?: boolean;
}

export interface StopOptions {
  /** The round's end marker: stop only once the file holds these bytes, waiting at most waitMs. */
  endMarker?: Uint8Array;
  waitMs?: number;
}

export interface RunningCapture {
  spec: CaptureSpec;
  stop(opts?: StopOptions): Promise<StoppedCapture>;
}

/** How long stop() waits for the end marker by default: a TCG guest under load has been seen seconds behind. */
export const END_WAIT_MS = 10_000;

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
    async stop(opts: StopOptions = {}) {
      const sawEnd = opts.endMarker ? await fileHolds(spec.file, opts.endMarker, opts.waitMs ?? END_WAIT_MS) : undefined;
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await proc.wait();
      clearTimeout(killer);

      const m = /(\d+) packets? captured/.exec(stderr);
      const d = /(\d+) packets? dropped by kernel/.exec(stderr);
      return {
        file: spec.file,
        ...(m ? { packets: Number(m[1]) } : {}),
        ...(d ? { dropped: Number(d[1]) } : {}),
        ...(sawEnd !== undefined ? { sawEnd } : {}),
      };
    },
  };
}

/**
 * Waits until `file` holds `needle`, reading only what was appended since the last look (-U writes
 * each packet as it comes). False when waitMs passed first.
 */
async function fileHolds(file: string, needle: Uint8Array, waitMs: number): Promise<boolean> {
  const until = performance.now() + waitMs;
  const want = Buffer.from(needle);
  let from = 0;
  for (;;) {
    const f = await open(file, 'r').catch(() => undefined);
    if (f) {
      try {
        const { size } = await f.stat();
        if (size > from) {
          const start = Math.max(0, from - want.length + 1);
          const buf = Buffer.alloc(size - start);
          const { bytesRead } = await f.read(buf, 0, buf.length, start);
          if (buf.subarray(0, bytesRead).includes(want)) return true;
          from = start + bytesRead;
        }
      } finally {
        await f.close();
      }
    }
    if (performance.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A capture whose file does not hold what tcpdump captured. tcpdump does not check its writes
 * (pcap_dump): on a full disk it goes on counting packets it never wrote, so the file is read back
 * and its records counted against tcpdump's own "packets captured".
 */
export class CaptureError extends LabError {}
