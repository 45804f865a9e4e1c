// Raw performance samples as they travel between a lab (local or in a guest) and the summaries.

export interface IperfResult {
  gbps: number;
  bytes: number;
  seconds: number;
  /** CPU seconds spent by sender and receiver together (from iperf3's utilisation figures). */
  cpuSeconds: number;
}

export interface PerfOptions {
  rounds: number;
  seconds: number;
  rttCount: number;
  streams: number;
  progress?: (message: string) => void;
  /** Seeded shuffles make a run's order reproducible; the seed is reported. */
  seed?: number;
}

export type PerfPath = 'same-subnet' | 'cross-subnet';

export interface PathSamples {
  path: PerfPath;
  src: string;
  dst: string;
  reachable: boolean;
  rttUs: number[];
  single: IperfResult[];
  parallel: IperfResult[];
}

export interface ModeSamples {
  mode: string;
  paths: PathSamples[];
  mtu?: { expected: number; observed: number; maxDfPayload: number; path: PerfPath };
}

export interface PerfSamples {
  seed: number;
  order: string[][];
  underlay: PathSamples[];
  modes: ModeSamples[];
}
