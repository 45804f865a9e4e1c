// Raw performance samples as they travel between a lab (local or in a guest) and the summaries.

export interface IperfResult {
  gbps: number;
  bytes: number;
  seconds: number;
  /** CPU seconds spent by sender and receiver together (from iperf3's utilisation figures). */
  cpuSeconds: number;
}

export interface PerfOptions {
  /** The fewest rounds: fewer never stop (a t interval needs a few degrees of freedom). */
  rounds: number;
  /** Keep sampling until every ratio is this precise (0.05: ±5%)... */
  target?: number;
  /** ...or until another round would not fit this budget. */
  budgetMs?: number;
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

/** Why sampling stopped, and how precise it got. */
export interface PerfStop {
  why: 'precision' | 'budget' | 'rounds';
  rounds: number;
  elapsedMs: number;
  target: number;
  budgetMs: number;
  /** Each ratio's relative 95% half-width when it stopped. */
  halfWidths: Record<string, number>;
  /** The ratios that did not reach the target. */
  missed: string[];
}

export interface PerfSamples {
  seed: number;
  stop?: PerfStop;
  /** Sender and receiver pinned to separate CPUs (iperf3 -A), when the machine has two. */
  pinned?: boolean;
  order: string[][];
  underlay: PathSamples[];
  modes: ModeSamples[];
}
