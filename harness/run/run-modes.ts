// Runs modes wherever they can run: placement over every backend, one session per backend used,
// each mode programmed, checked for stale state and on the wire, optionally measured. Backends with
// their own kernel (guests) work alongside the host, except when measuring on a machine without
// cores for both: then the guests measure first and stop, and the host measures alone, since a
// guest's CPU load would skew the host's numbers (perf-schedule.ts). The CLI's `run` and a library
// user's test call this alike.
import { availableParallelism } from 'node:os';
import type { Backend, BackendSession, LabManifest, Progress } from '../backends/backend.ts';
import { lazyAvailability, placeMode, type Placement } from '../backends/placement.ts';
import { BACKENDS, type BackendChoice } from '../backends/registry.ts';
import { localChecker } from '../check/index.ts';
import { checkReading, type Reading } from '../conform/daemon-check.ts';
import { attachPerf, underlayPerf } from '../check/summarize.ts';
import { CancelledError, errorLine, GuestError } from '../errors.ts';
import { ManifestRejected } from '../kube/client.ts';
import { kubeApiserverBinary } from '../host/daemons.ts';
import { doctor, type HostReport } from '../host/doctor.ts';
import { isCancelled } from '../kernel/exec.ts';
import type { ModeDef, ModeSettings } from '../modes/mode.ts';
import { randomLabName } from '../plan/names.ts';
import type { ResultsFile, RunResult } from '../results/schema.ts';
import type { PerfOptions } from '../results/samples.ts';
import type { Topology } from '../topology/types.ts';
import { type PerfSchedule, perfOptionsFor, perfSchedule, waitsFor } from './perf-schedule.ts';
import { SwitchRolledBack } from '../errors.ts';
import { own } from '../kernel/lifecycle.ts';
import { ResultsRecord } from './results-file.ts';

export interface RunModesOptions {
  topology: Topology;
  modes: readonly ModeDef[];
  /** auto (default): this kernel when it can, a guest when it lacks a feature. */
  backend?: BackendChoice;
  outDir: string;
  name?: string;
  settings?: ModeSettings;
  /** Pings per pair. */
  count?: number;
  /** A DF packet of the pods' MTU on each underlay path, in every check (conform asks for it). */
  mtuProbe?: boolean;
  perf?: Omit<PerfOptions, 'progress'>;
  progress?: Progress;
  /** Each finished run, as it finishes. */
  onRun?: (r: RunResult) => void;
  /** A guest's console lines. */
  onConsole?: (backend: string, line: string) => void;
  /** doctor()'s answers, when the caller already has them. */
  host?: HostReport;
  /** A manifest for the lab's kube-apiserver (netns), or for a kind cluster (--backend kind). */
  manifest?: LabManifest;
  /** kind: the user's cluster instead of a new one. */
  kubeconfig?: string;
  /** The manifest's own mode and conform's reading of the manifest: its first run is checked against it. */
  reading?: { mode: string; reading: Reading };
  /** Runs an earlier run in `outDir` finished (--resume, `finishedRuns`): kept in the results, their modes not run again. */
  previous?: ReadonlyMap<string, RunResult>;
  /** How results.json is written when the disk may be full (`OutDir.withRoom`). */
  withRoom?: <T>(write: () => T) => T;
}

export interface RunModesResult {
  /** In the order asked for, skipped and resumed modes included. */
  runs: RunResult[];
  /** results.json as written in `outDir` (the reports are made from it). */
  results: ResultsFile;
  underlay?: ResultsFile['underlay'];
  placements: Placement[];
  /** How the backends shared the machine while measuring (perf only). */
  perfSchedule?: PerfSchedule;
}

/** Where each mode would run here, and why not where it cannot. */
export async function placeModes(modes: readonly ModeDef[], choice: BackendChoice = 'auto', host?: HostReport): Promise<Placement[]> {
  const report = host ?? (await doctor());
  const backends = lazyAvailability(BACKENDS);
  const out: Placement[] = [];
  for (const m of modes) out.push(await placeMode(m, choice, report, backends));
  return out;
}

/**
 * A manifest's lab runs with the lab's own kube-apiserver: on this kernel, or in a guest for a mode
 * this kernel cannot run (calico.yaml's IPIP), the same manifest applied there. Without an API
 * server every mode is skipped with the reason (doctor's), as a mode whose daemon is missing is.
 */
async function manifestPlacements(modes: readonly ModeDef[], on: BackendChoice, host?: HostReport): Promise<Placement[]> {
  // A kind cluster brings its own API server and flannel's images.
  if (on === 'kind') return placeModes(modes, 'kind', host);
  const api = await kubeApiserverBinary();
  if (!api.ok) return modes.map((mode) => ({ mode, skip: `--manifest needs kube-apiserver: ${api.detail}` }));
  return placeModes(modes, on, host);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** The one line that says why a backend failed: its first line (the rest goes to logs). */
const firstLine = (e: unknown) => errorLine(e).text.split('\n')[0]!;

/** How many lines of a failed guest's console the terminal shows (the whole console is in its log). */
const SHOWN_TAIL = 12;

/** A guest that failed shows the end of its console (the rest stays in <backend>-console.log), marked with its backend. */
export function consoleTailLines(e: unknown, backend: string): string[] {
  if (!(e instanceof GuestError) || !e.consoleTail.length) return [];
  const tail = e.consoleTail.slice(-SHOWN_TAIL);
  return [`${backend}: the last ${tail.length} console lines:`, ...tail.map((l) => `  ${backend}| ${l}`)];
}

/** When a backend may measure, and with how much of the budget (see perf-schedule.ts). */
interface PerfGate {
  /** This backend's checks are done (or it failed): called once, any number of times is fine. */
  checked(): void;
  /** Every backend's checks are done (or failed). */
  allChecked: Promise<unknown>;
  /** Resolves when this backend may start measuring, with the options it measures with. */
  mayMeasure(): Promise<Omit<PerfOptions, 'progress'>>;
  /** This backend's measuring is done and its lab is down (or it failed). */
  measured(): void;
}

/**
 * What a checked run says beyond its pairs: the mode it was switched from and the stale state
 * found, the model's differences from the daemon, conform's reading against what the daemon
 * programmed (the first run only, before anything patched the manifest), stale state as a failure.
 */
function withFindings(
  run: RunResult,
  { from, stale, reading, mode }: { from?: string; stale: string[]; reading: RunModesOptions['reading']; mode: ModeDef },
): RunResult {
  let r = run;
  if (from) r = { ...r, switchedFrom: from, stale };
  const differs = r.modelDiff?.differences.length ?? 0;
  // The wire verdict stays the daemon's; a model that disagrees with it is cnilab's to fix, said next to it.
  if (differs)
    r = {
      ...r,
      reason: [r.reason, `cnilab's model ${r.modelDiff!.model} differs from ${r.daemon} in ${differs} facts`].filter(Boolean).join('; '),
    };
  const read = reading?.mode === mode.name ? checkReading(reading.reading, r) : undefined;
  if (read) {
    const misread = read.settings
      .filter((x) => !x.agree)
      .map((x) => `${x.setting} read ${x.read}, programmed ${x.programmed ?? 'nothing'}`);
    r = {
      ...r,
      readingCheck: read,
      ...(misread.length ? { reason: [r.reason, `conform misread the manifest: ${misread.join('; ')}`].filter(Boolean).join('; ') } : {}),
    };
  }
  if (stale.length)
    r = { ...r, status: 'failed', reason: [r.reason, `stale kernel state: ${stale.join('; ')}`].filter(Boolean).join('; ') };
  return r;
}

/** The perf rounds on a backend's session, once the gate lets it: its runs with their perf, or each failed with why. */
async function measureOn(
  session: BackendSession,
  backend: Backend,
  modes: readonly ModeDef[],
  runs: RunResult[],
  asked: NonNullable<RunModesOptions['perf']>,
  progress: Progress,
  gate?: PerfGate,
): Promise<{ runs: RunResult[]; underlay?: ResultsFile['underlay'] }> {
  // Each mode once, even when a transition sequence visited it twice.
  const unique = [...new Map(modes.map((m) => [m.name, m])).values()];
  try {
    // The labs the rounds measure on are built while the gate is shut (the host waits for the
    // guests' rounds then): building is not measuring. Not before every backend's checks are
    // done, though: a guest's probes have reply deadlines.
    const early = gate ? gate.allChecked.then(() => session.perfLabs?.(unique)) : undefined;
    void early?.catch(() => {});
    const perf = (await gate?.mayMeasure()) ?? asked;
    const samples = await session.measure(unique, { ...perf, progress });
    return {
      runs: attachPerf(runs, samples, backend.comparable),
      ...(backend.comparable ? { underlay: underlayPerf(samples) } : {}),
    };
  } catch (e) {
    if (e instanceof CancelledError || isCancelled()) throw e;
    // Asked to measure and could not: every run says so and fails, rather than lacking perf quietly.
    const why = `performance not measured: ${firstLine(e)}`;
    progress(`${backend.name}: ${why}`);
    return { runs: runs.map((r) => ({ ...r, status: 'failed', reason: [r.reason, why].filter(Boolean).join('; ') })) };
  }
}

/**
 * One mode on a live session: built and programmed (the first), else switched to; checked for
 * stale state and on the wire; the topology's faults applied. A switch that rolled back is a failed
 * run, and the lab keeps holding the mode it held (`holds` false).
 */
async function runMode(
  session: BackendSession,
  backend: Backend,
  m: ModeDef,
  i: number,
  from: string | undefined,
  startMs: number,
  o: RunModesOptions,
): Promise<{ run: RunResult; holds: boolean }> {
  const progress = o.progress ?? (() => {});
  let t = performance.now();
  const lap = () => {
    const ms = Math.round(performance.now() - t);
    t = performance.now();
    return ms;
  };
  let first: RunResult['phases'] = {};
  if (i === 0) {
    await session.up(m);
    // The session's own underlay time when it has one; else building and programming are one span.
    const up = lap();
    const build = session.timings?.buildMs;
    first = build === undefined ? { build: startMs + up } : { build: startMs + build, program: Math.max(0, up - build) };
  } else {
    try {
      await session.program(m);
    } catch (e) {
      // Rolled back and verified: this mode failed, the lab is still the previous mode, the rest can run.
      if (!(e instanceof SwitchRolledBack)) throw e;
      const r: RunResult = { mode: m.name, family: m.family, backend: backend.name, status: 'failed', reason: firstLine(e), pairs: [] };
      progress(`${m.name}: FAILED (${firstLine(e)})`);
      return { run: r, holds: false };
    }
  }
  const programmed = i === 0 ? first : { switch: lap() };
  const stale = await session.staleState();
  const staleMs = lap();
  const checked = await session.check(m, {
    outDir: o.outDir,
    progress,
    ...(o.count ? { count: o.count } : {}),
    ...(o.mtuProbe ? { mtuProbe: true } : {}),
    ...(o.perf ? { mtuSearch: true } : {}),
  });
  lap();
  let r: RunResult = {
    ...checked,
    family: m.family,
    backend: backend.name,
    phases: { ...programmed, stale: staleMs, ...checked.phases },
  };
  if (o.topology.faults?.length) {
    const faults = await session.faults(m, r, { outDir: o.outDir, progress });
    r = { ...r, phases: { ...r.phases, faults: lap() } };
    const failed = faults.filter((f) => f.status === 'failed');
    r = {
      ...r,
      faults,
      ...(failed.length
        ? {
            status: 'failed' as const,
            reason: [r.reason, ...failed.map((f) => `fault ${f.name}: ${f.reason}`)].filter(Boolean).join('; '),
          }
        : {}),
    };
  }
  r = withFindings(r, { ...(from ? { from } : {}), stale, reading: i === 0 ? o.reading : undefined, mode: m });
  progress(`${m.name}: ${r.status.toUpperCase()} (${r.pairs.filter((p) => p.ok).length}/${r.pairs.length} pairs as expected)`);
  return { run: r, holds: true };
}

async function runOnBackend(
  backend: Backend,
  modes: readonly ModeDef[],
  o: RunModesOptions & { name: string },
  gate?: PerfGate,
): Promise<{ runs: RunResult[]; underlay?: ResultsFile['underlay'] }> {
  const progress = o.progress ?? (() => {});
  const started = performance.now();
  const session = await backend.start(o.topology, {
    name: o.name,
    checker: localChecker,
    outDir: o.outDir,
    progress,
    modes,
    ...(o.settings ? { settings: o.settings } : {}),
    ...(o.manifest ? { manifest: o.manifest } : {}),
    ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
    ...(o.onConsole ? { onConsole: (l: string) => o.onConsole!(backend.name, l) } : {}),
  });
  // A guest's boot counts as building its lab.
  const startMs = Math.round(performance.now() - started);
  let runs: RunResult[] = [];
  let underlay: ResultsFile['underlay'];
  try {
    // The mode the lab holds: a switch that rolled back leaves the one before it.
    let holds: string | undefined;
    for (const [i, m] of modes.entries()) {
      const { run: r, holds: now } = await runMode(session, backend, m, i, holds, startMs, o);
      if (now) holds = m.name;
      o.onRun?.(r);
      runs.push(r);
    }
    gate?.checked();
    if (o.perf) ({ runs, underlay } = await measureOn(session, backend, modes, runs, o.perf, progress, gate));
  } catch (e) {
    if (e instanceof CancelledError || isCancelled()) throw e;
    // The user's input, refused where only a live lab could judge it (an object the API server
    // refuses): said as bad input, once, after the lab is torn down, not as a failed mode.
    if (e instanceof ManifestRejected) throw e;
    // The modes this backend did not get to are failed with the reason; what it finished is kept.
    const why = `${backend.name} backend failed: ${firstLine(e)}`;
    progress(why);
    for (const l of consoleTailLines(e, backend.name)) progress(l);
    for (const m of modes.slice(runs.length)) {
      const r: RunResult = { mode: m.name, family: m.family, backend: backend.name, status: 'failed', reason: why, pairs: [] };
      o.onRun?.(r);
      runs.push(r);
    }
  } finally {
    gate?.checked();
    const t = performance.now();
    // Measured only once the lab is down: a guest that is still running takes the CPUs the host's
    // rounds measure (an idle qemu guest keeps ~40% of a core busy, measured here).
    await session.down().finally(() => gate?.measured());
    // Teardown belongs to the lab, not a mode: the last run carries it (the results file is rewritten at the end).
    const teardown = session.timings?.teardownMs ?? Math.round(performance.now() - t);
    const last = runs.at(-1);
    if (last) runs[runs.length - 1] = { ...last, phases: { ...last.phases, teardown } };
  }
  return { runs, ...(underlay ? { underlay } : {}) };
}

/**
 * Runs `opts.modes` and writes results.json in `opts.outDir` as each mode finishes (marked
 * incomplete until the end, and with why when a signal stops the run), then whole.
 */
export async function runModes(opts: RunModesOptions): Promise<RunModesResult> {
  const record = new ResultsRecord({
    outDir: opts.outDir,
    topology: opts.topology,
    modes: opts.modes,
    ...(opts.previous ? { previous: opts.previous } : {}),
    ...(opts.withRoom ? { withRoom: opts.withRoom } : {}),
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
  record.incomplete('running');
  // A signal writes down where the run was; a SIGKILL leaves the last "running" file.
  const release = own({ down: async () => record.incomplete('interrupted by a signal') });
  try {
    const todo = opts.modes.filter((m) => !opts.previous?.has(m.name));
    const onRun = (r: RunResult) => {
      record.add(r);
      opts.onRun?.(r);
    };
    const done = await runFresh({ ...opts, modes: todo, onRun });
    const fresh = [...done.runs];
    const runs = opts.modes.map((m) => opts.previous?.get(m.name) ?? fresh.shift()!);
    const results = record.complete(runs, {
      underlay: done.underlay,
      perfSettings: opts.perf && perfSettings(opts.perf),
      perfSchedule: done.perfSchedule,
    });
    return { ...done, runs, results };
  } finally {
    release();
  }
}

/** The --perf settings as results.json records them. */
const perfSettings = (p: NonNullable<RunModesOptions['perf']>): ResultsFile['perfSettings'] => ({
  rounds: p.rounds,
  seconds: p.seconds,
  streams: p.streams,
  rttCount: p.rttCount,
  ...(p.target !== undefined ? { target: p.target } : {}),
  ...(p.margin !== undefined ? { margin: p.margin } : {}),
  ...(p.budgetMs !== undefined ? { budgetSeconds: p.budgetMs / 1000 } : {}),
});

async function runFresh(opts: RunModesOptions): Promise<Omit<RunModesResult, 'results'>> {
  // The perf budget counts from here: placement, boots and checks included.
  const runStarted = performance.now();
  const o = { ...opts, name: opts.name ?? randomLabName() };
  const placements = o.manifest
    ? await manifestPlacements(o.modes, o.backend ?? 'auto', o.host)
    : await placeModes(o.modes, o.backend ?? 'auto', o.host);
  const groups = new Map<Backend, ModeDef[]>();
  for (const p of placements) if ('backend' in p) groups.set(p.backend, [...(groups.get(p.backend) ?? []), p.mode]);
  const ordered = [...groups].sort(([a], [b]) => BACKENDS.indexOf(a) - BACKENDS.indexOf(b));
  const results = new Map<Backend, Awaited<ReturnType<typeof runOnBackend>>>();
  let schedule: PerfSchedule | undefined;
  if (o.perf) {
    // Every backend boots and checks at once; nobody measures until all checks are done. Then
    // `perfSchedule` decides: guests alongside the host when there are cores for both, else the
    // guests first (each stopped before the next begins) and the host alone after them.
    const perfOpts = o.perf;
    const kinds = ordered.map(([b]) => (b.comparable ? ('host' as const) : ('guest' as const)));
    const guestCpus = ordered.filter(([b]) => !b.comparable).map(([b]) => b.cpus ?? 1);
    const s = perfSchedule(guestCpus, availableParallelism(), perfOpts.budgetMs);
    schedule = s;
    const waits = waitsFor(kinds, s);
    const checked = ordered.map(() => deferred());
    const measured = ordered.map(() => deferred());
    const allChecked = Promise.all(checked.map((d) => d.promise));
    const settled = await Promise.allSettled(
      ordered.map(async ([b, modes], i) => {
        const gate: PerfGate = {
          checked: checked[i]!.resolve,
          allChecked,
          mayMeasure: async () => {
            await allChecked;
            await Promise.all(waits[i]!.map((j) => measured[j]!.promise));
            const elapsed = performance.now() - runStarted;
            if (kinds[i] === 'host') s.hostStartedMs ??= Math.round(elapsed);
            return perfOptionsFor(kinds[i] === 'host' ? 'host' : { guests: guestCpus.length }, s, perfOpts, elapsed);
          },
          measured: measured[i]!.resolve,
        };
        try {
          results.set(b, await runOnBackend(b, modes, o, gate));
        } finally {
          // A backend that failed to start must not hold the others at the gate.
          gate.checked();
          gate.measured();
        }
      }),
    );
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed && failed.status === 'rejected') throw failed.reason;
  } else {
    // Each guest is its own kernel, so every backend works at once. A cancelled one cancels the rest through the one runner.
    const settled = await Promise.allSettled(ordered.map(async ([b, modes]) => results.set(b, await runOnBackend(b, modes, o))));
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed && failed.status === 'rejected') throw failed.reason;
  }
  const queues = new Map([...results].map(([b, r]) => [b, [...r.runs]]));
  const runs = placements.map(
    (p): RunResult =>
      'skip' in p
        ? {
            mode: p.mode.name,
            family: p.mode.family,
            backend: o.backend && o.backend !== 'auto' ? o.backend : 'netns',
            status: 'skipped',
            reason: p.skip,
            pairs: [],
          }
        : queues.get(p.backend)!.shift()!,
  );
  const underlay = [...results.values()].find((r) => r.underlay)?.underlay;
  return { runs, placements, ...(underlay ? { underlay } : {}), ...(schedule ? { perfSchedule: schedule } : {}) };
}
