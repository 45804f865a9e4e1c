// Performance rounds on a live lab. Each round visits every mode in a fresh random order and
// measures the bare underlay at a random point of it, so slow drift of a noisy machine spreads over
// all modes instead of favouring whichever ran first.
import { availableParallelism } from 'node:os';
import type { BackendSession, LabView } from '../backends/backend.ts';
import { LabError } from '../errors.ts';
import type { ModeDef } from '../modes/mode.ts';
import { formatIpv4 } from '../net/ipv4.ts';
import type { NodeExecutor } from '../node/executor.ts';
import {
  countCycles,
  cyclesCountable,
  iperf,
  iperfClient,
  iperfLength,
  type IperfServer,
  rttSamples,
  startIperfServer,
} from '../probe/perf.ts';
import type { ModeSamples, PathSamples, PerfOptions, PerfPath, PerfSamples, PerfStop } from '../results/samples.ts';
import { relativeHalfWidth, roundsNeeded, stopDecision } from '../stats/precision.ts';
import { headlineEstimates, headlinePerRound } from './summarize.ts';
import { DEFAULT_MARGIN, decidePairs } from '../stats/pairs.ts';
import { prng, shuffle } from '../stats/random.ts';
import { pathBetween, type ResolvedNode } from '../topology/types.ts';

export { prng, shuffle };

/** The node pairs measured: one on the same subnet and one across the router, when the topology has them. */
export function perfNodePairs(nodes: readonly ResolvedNode[]): { path: PerfPath; a: ResolvedNode; b: ResolvedNode }[] {
  const out: { path: PerfPath; a: ResolvedNode; b: ResolvedNode }[] = [];
  for (const path of ['same-subnet', 'cross-subnet'] as const) {
    outer: for (const a of nodes)
      for (const b of nodes)
        if (a.name !== b.name && a.pods.length && b.pods.length && pathBetween(a, b) === path) {
          out.push({ path, a, b });
          break outer;
        }
  }
  return out;
}

interface PathPlan {
  /** The sampling round: every test carries it, so a ratio pairs a mode with its round's underlay. */
  round: number;
  /** RTT samples: in the first rounds only (their percentiles need samples, not rounds). */
  rtt: boolean;
  /** Parallel streams: once, in the first round (its ratio is not a stopping criterion). */
  parallel: boolean;
  pin: { client: number; server: number } | undefined;
}

/**
 * iperf3 servers kept listening for the whole sampling, one per destination, when the labs do not
 * change under them (a lab per mode); a switched lab re-creates its pods, so there each test has
 * its own one-off server.
 */
class Servers {
  private readonly live = new Map<string, Promise<IperfServer>>();
  constructor(private readonly cpu: number | undefined) {}
  port(dst: NodeExecutor): Promise<IperfServer> {
    let s = this.live.get(dst.id);
    if (!s) {
      s = startIperfServer(dst, { cpu: this.cpu, oneOff: false });
      this.live.set(dst.id, s);
    }
    return s;
  }
  async close(): Promise<void> {
    await Promise.allSettled([...this.live.values()].map(async (s) => (await s).close()));
  }
}

async function measurePath(
  srcNs: NodeExecutor,
  dstNs: NodeExecutor,
  dstIp: string,
  opts: PerfOptions,
  into: PathSamples,
  plan: PathPlan,
  servers: Servers | undefined,
  cycles = false,
): Promise<void> {
  const rate = (xs: readonly { gbps: number }[]) => (xs.length ? xs.reduce((a, x) => a + x.gbps, 0) / xs.length : undefined);
  const test = async (streams: number) => {
    // Sized from this path's rate so far: a fraction of a second is a byte count (iperf3 -n).
    const length = iperfLength(opts.seconds, rate(streams > 1 ? into.parallel : into.single) ?? rate(into.single));
    if (!servers) return iperf(srcNs, dstNs, dstIp, { length, streams, ...(plan.pin ? { pin: plan.pin } : {}) });
    const s = await servers.port(dstNs);
    return iperfClient(srcNs, dstIp, s.port, { length, streams, cpu: plan.pin?.client });
  };
  if (plan.rtt) into.rttUs.push(...(await rttSamples(srcNs, dstIp, opts.rttCount)));
  if (cycles) {
    const c = await countCycles(srcNs, () => test(1));
    into.single.push({ ...c.value, round: plan.round, ...(c.cycles !== undefined ? { cycles: c.cycles } : {}) });
  } else into.single.push({ ...(await test(1)), round: plan.round });
  if (plan.parallel && opts.streams > 1) into.parallel.push({ ...(await test(opts.streams)), round: plan.round });
}

/** No run samples forever: past this many rounds the budget is not the limit, the machine is. */
const MAX_ROUNDS = 60;
/** Rounds with RTT samples: three rounds of --rtt-count pings give the percentiles their samples. */
const RTT_ROUNDS = 3;
/**
 * Underlay visits per round, each at a random point of it: a round's ratio divides by their mean, so
 * the underlay's own noise weighs half as much for one more 1-s test a round (measured here: a
 * single 1-s test varies by ~10%, and most of it does not carry over to the next).
 */
const UNDERLAY_VISITS = 2;

/**
 * Measures on a session whose nodes are reachable from here: on a lab per mode when the session can
 * build them (no switching inside the rounds), else switching its one lab between modes.
 */
export async function measurePerf(session: BackendSession, modes: readonly ModeDef[], opts: PerfOptions): Promise<PerfSamples> {
  const lab = session.view();
  if (!lab) throw new LabError(`measurePerf: lab ${session.lab} on ${session.backend} has no local view; its backend measures itself`);
  const started = performance.now();
  // Every mode on a lab of its own, when the session can build them; the underlay is measured on
  // the first of them (every lab has the same underlay).
  const labs = await session.perfLabs?.(modes, opts.progress);
  const home: LabView = (labs && modes[0] && labs.get(modes[0].name)) || lab;
  const pin = availableParallelism() >= 2 ? { client: 0, server: 1 } : undefined;
  const servers = labs ? new Servers(pin?.server) : undefined;
  const cycles = await cyclesCountable(home.nodeExecutor(lab.topology.nodes[0]!.name));
  const run = new PerfRounds(session, modes, opts, { labs, home, pin, servers, cycles, started });
  try {
    await run.warmUp();
    return await run.rounds();
  } finally {
    await servers?.close();
  }
}

/** What the rounds measure with: the labs, the home lab for the underlay, pinning, servers, whether cycles count. */
interface RoundsSetup {
  labs: Map<string, LabView> | undefined;
  home: LabView;
  pin: { client: number; server: number } | undefined;
  servers: Servers | undefined;
  cycles: Awaited<ReturnType<typeof cyclesCountable>>;
  started: number;
}

/** The sampling: rounds of the underlay and every mode in a shuffled order, until the stop rule says so. */
class PerfRounds {
  private readonly seed: number;
  private readonly rand: () => number;
  private readonly pairs;
  private readonly underlay: PathSamples[];
  private readonly samples: Map<string, ModeSamples>;
  private readonly order: string[][] = [];
  private readonly roundTimes: number[] = [];
  private readonly target: number;
  private readonly margin: number;

  constructor(
    private readonly session: BackendSession,
    private readonly modes: readonly ModeDef[],
    private readonly opts: PerfOptions,
    private readonly s: RoundsSetup,
  ) {
    this.seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
    this.rand = prng(this.seed);
    this.pairs = perfNodePairs(this.lab.topology.nodes);
    this.underlay = this.pairs.map((p) => ({
      path: p.path,
      src: p.a.name,
      dst: p.b.name,
      reachable: true,
      rttUs: [],
      single: [],
      parallel: [],
    }));
    this.samples = new Map(modes.map((m) => [m.name, { mode: m.name, paths: [] }]));
    this.target = opts.target ?? 0.05;
    this.margin = opts.margin ?? DEFAULT_MARGIN;
  }

  private get lab(): LabView {
    const v = this.session.view();
    if (!v) throw new LabError(`measurePerf: lab ${this.session.lab} went away during the rounds`);
    return v;
  }

  /** The lab that holds `mode`: its own, or the one lab switched to it. */
  private async labFor(mode: ModeDef): Promise<LabView> {
    const own = this.s.labs?.get(mode.name);
    if (own) return own;
    if (this.lab.mode?.name !== mode.name) await this.session.program(mode);
    return this.lab;
  }

  /**
   * One test not kept: the machine settles after the checks, the guests and the builds (the first
   * test of a run was the fastest of its mode once here, 25 against 17-18 Gbit/s).
   */
  async warmUp(): Promise<void> {
    const p = this.pairs[0];
    if (!p) return;
    const { home, pin, servers } = this.s;
    const scratch = { ...this.underlay[0]!, rttUs: [], single: [], parallel: [] };
    const plan = { round: -1, rtt: false, parallel: false, pin };
    await measurePath(home.nodeExecutor(p.a.name), home.nodeExecutor(p.b.name), formatIpv4(p.b.ip), this.opts, scratch, plan, servers);
  }

  async rounds(): Promise<PerfSamples> {
    let stop: PerfStop | undefined;
    for (let round = 0; round < MAX_ROUNDS && !stop; round++) {
      const roundStart = performance.now();
      const visit = shuffle([...Array.from({ length: UNDERLAY_VISITS }, () => 'underlay'), ...this.modes.map((m) => m.name)], this.rand);
      this.order.push(visit);
      let underlayVisit = 0;
      for (const item of visit) {
        if (item === 'underlay') await this.visitUnderlay(round, underlayVisit++ === 0);
        else await this.visitMode(this.modes.find((m) => m.name === item)!, round);
      }
      this.roundTimes.push(performance.now() - roundStart);
      stop = this.stopAfter(round);
    }
    return {
      seed: this.seed,
      order: this.order,
      underlay: this.underlay,
      modes: [...this.samples.values()],
      ...(stop ? { stop } : {}),
      pinned: this.s.pin !== undefined,
      labPerMode: this.s.labs !== undefined,
      cycles: this.cyclesOutcome(),
    };
  }

  /**
   * The headline (same-subnet) path every round: its ratios decide when to stop. The other path
   * once, and the parallel streams once on the headline path, in the first round only, so later
   * rounds stay short.
   */
  private plan(round: number, path: PerfPath, extra = true): PathPlan {
    return { round, rtt: round < RTT_ROUNDS, parallel: round === 0 && path === 'same-subnet' && extra, pin: this.s.pin };
  }

  /** The underlay, node to node; the extras (the other path, parallel streams) at the first round's first visit only. */
  private async visitUnderlay(round: number, once: boolean): Promise<void> {
    this.opts.progress?.(`perf round ${round + 1}: underlay`);
    const { home, servers, cycles } = this.s;
    for (const [i, p] of this.pairs.entries())
      if (p.path === 'same-subnet' || (round === 0 && once))
        await measurePath(
          home.nodeExecutor(p.a.name),
          home.nodeExecutor(p.b.name),
          formatIpv4(p.b.ip),
          this.opts,
          this.underlay[i]!,
          this.plan(round, p.path, once),
          servers,
          cycles.ok,
        );
  }

  /** A mode, pod to pod on each path it must reach. */
  private async visitMode(mode: ModeDef, round: number): Promise<void> {
    const at = await this.labFor(mode);
    this.opts.progress?.(`perf round ${round + 1}: ${mode.name}`);
    const s = this.samples.get(mode.name)!;
    const t = this.lab.topology;
    for (const p of this.pairs) {
      const src = at.pods.find((x) => x.node === p.a.name)!;
      const dst = at.pods.find((x) => x.node === p.b.name)!;
      const reachable = mode.expect(p.a, p.b, p.path, { topology: t, settings: this.lab.settings }).reachable;
      let ps = s.paths.find((x) => x.path === p.path);
      if (!ps) {
        ps = { path: p.path, src: src.id, dst: dst.id, reachable, rttUs: [], single: [], parallel: [] };
        s.paths.push(ps);
      }
      if (reachable && (p.path === 'same-subnet' || round === 0))
        await measurePath(
          at.executor(src.netns),
          at.executor(dst.netns),
          dst.ip,
          this.opts,
          ps,
          this.plan(round, p.path),
          this.s.servers,
          this.s.cycles.ok,
        );
    }
  }

  /** After a round: why sampling stops (precision, budget, fixed rounds), or undefined to go on. */
  private stopAfter(round: number): PerfStop | undefined {
    const { opts, target, margin } = this;
    const now = performance.now();
    const estimates = headlineEstimates(this.underlay, [...this.samples.values()]);
    const decided = decidePairs(headlinePerRound(this.underlay, [...this.samples.values()]), margin);
    const undecided = decided.filter((p) => p.verdict === 'undecided').map((p) => `${p.a} vs ${p.b}`);
    const halfWidths = Object.fromEntries(Object.entries(estimates).map(([k, e]) => [k, relativeHalfWidth(e)]));
    // A typical round is one without the first round's extras, once there is one.
    const times = this.roundTimes;
    const roundMs = times.length > 1 ? Math.max(...times.slice(1).slice(-3)) : times[0]!;
    const base = {
      rounds: round + 1,
      elapsedMs: Math.round(now - this.s.started),
      target,
      budgetMs: opts.budgetMs ?? 0,
      halfWidths,
      ...(decided.length ? { pairs: decided, margin } : {}),
    };
    const needed = (missed: readonly string[]) => ({
      roundMs: Math.round(roundMs),
      needed: Object.fromEntries(missed.map((k) => [k, roundsNeeded(estimates[k]!, round + 1, target)])),
    });
    if (opts.budgetMs === undefined) {
      // No budget: a fixed number of rounds, as asked.
      if (round + 1 < opts.rounds) return undefined;
      const missed = Object.keys(halfWidths).filter((k) => !(halfWidths[k]! <= target));
      return { ...base, why: 'rounds', missed, ...needed(missed) };
    }
    const d = stopDecision({
      rounds: round + 1,
      minRounds: opts.rounds,
      estimates,
      target,
      elapsedMs: now - this.s.started,
      budgetMs: opts.budgetMs,
      roundMs,
      undecided,
    });
    if (d.stop) {
      const missed = d.missed.map((m) => m.name);
      return { ...base, why: d.why, missed, ...needed(missed) };
    }
    const widest = (Math.max(...Object.values(halfWidths)) * 100).toFixed(1);
    opts.progress?.(
      `perf: after ${round + 1} rounds the widest interval is ±${widest}% (target ±${target * 100}%)` +
        (undecided.length ? `; ${undecided.length} pair${undecided.length > 1 ? 's' : ''} undecided (${undecided[0]}…)` : ''),
    );
    return undefined;
  }

  /** Counted where perf stat said it could; a test it gave no count for is said, not skipped quietly. */
  private cyclesOutcome(): NonNullable<PerfSamples['cycles']> {
    const { cycles } = this.s;
    if (!cycles.ok) return { counted: false, why: cycles.why };
    const tests = [...this.underlay, ...[...this.samples.values()].flatMap((m) => m.paths)].flatMap((p) => p.single);
    const missing = tests.filter((r) => r.cycles === undefined).length;
    return missing === 0
      ? { counted: true }
      : { counted: false, why: `perf stat gave no cycle count for ${missing} of ${tests.length} tests` };
  }
}
