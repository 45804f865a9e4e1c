// Raw performance samples as they travel between a lab (local or in a guest) and the summaries.

export interface IperfResult {
  gbps: number;
  bytes: number;
  seconds: number;
  /** CPU seconds spent by sender and receiver together (from iperf3's utilisation figures). */
  cpuSeconds: number;
  /** The sampling round it was taken in: a ratio pairs a mode's test with its round's underlay. */
  round?: number;
  /** Every CPU's cycles during the test, where perf stat can count them. */
  cycles?: number;
}

export interface PerfOptions {
  /** The fewest rounds: fewer never stop (a t interval needs a few degrees of freedom). */
  rounds: number;
  /** Keep sampling until every ratio is this precise (0.05: ±5%)... */
  target?: number;
  /** ...and every two modes are told apart: faster, slower, or equivalent within ±margin (0.03). */
  margin?: number;
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

export type PairVerdict = 'faster' | 'slower' | 'equivalent' | 'undecided';

/** Two modes compared on the rounds they share (stats/pairs.ts decides it). */
export interface PairDecision {
  a: string;
  b: string;
  /** How much higher a's values are than b's, relative (0.07: a is 7% faster), with its 95% interval. */
  diff: number;
  lo: number;
  hi: number;
  /** Rounds both were measured in. */
  rounds: number;
  verdict: PairVerdict;
  /** Undecided: the rounds in all it would need at the spread it showed (Infinity: cannot be known). */
  needed?: number;
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
  /** How long a round took once the first (with its extras) was done, in ms. */
  roundMs?: number;
  /** For each ratio that missed: the rounds it would need at the spread it showed (Infinity: unknown). */
  needed?: Record<string, number>;
  /** Every two host modes compared on the rounds' headline throughput, and the equivalence margin. */
  pairs?: PairDecision[];
  margin?: number;
}

export interface PerfSamples {
  seed: number;
  stop?: PerfStop;
  /** Sender and receiver pinned to separate CPUs (iperf3 -A), when the machine has two. */
  pinned?: boolean;
  /** Each mode measured on a lab of its own, built for the rounds (else one lab switched between modes). */
  labPerMode?: boolean;
  /** Cycles per byte: counted (perf stat), or why not. */
  cycles?: { counted: true } | { counted: false; why: string };
  order: string[][];
  underlay: PathSamples[];
  modes: ModeSamples[];
}

/** How guests and the host shared the machine while measuring (results.json `perfSchedule`). */
export interface PerfSchedule {
  guests: 'none' | 'alongside' | 'first';
  /** The machine's CPUs, and the guests' (their emulated CPUs, each a busy host thread). */
  cpus: number;
  guestCpus: number;
  budgetMs?: number;
  /** When the host's rounds began, from the start of the run. */
  hostStartedMs?: number;
}
