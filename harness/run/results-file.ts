// results.json as a run goes: rewritten (temp file + rename, never half a file) after every
// finished mode and marked incomplete until the end, so a crash, a SIGKILL or a signal keeps what
// was done; --resume reads it back and skips the modes already done. runModes() writes it, so a
// library user gets the file the CLI writes.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import pkg from '../../package.json' with { type: 'json' };
import type { Progress } from '../backends/backend.ts';
import { UsageError } from '../errors.ts';
import { formatIpv4 } from '../net/ipv4.ts';
import type { ModeDef } from '../modes/mode.ts';
import type { ResultsFile, RunResult } from '../results/schema.ts';
import { OutputError, writeFileAtomicSync } from '../results/write-file.ts';
import type { Topology } from '../topology/types.ts';

export const resultsPath = (dir: string) => `${dir}/results.json`;

export function writeResultsAtomic(dir: string, r: ResultsFile): void {
  writeFileAtomicSync(resultsPath(dir), `${JSON.stringify(r, null, 2)}\n`);
}

/** The finished runs of an earlier, incomplete run in `dir`, by mode, for --resume. */
export function finishedRuns(dir: string, topologyName: string | undefined): Map<string, RunResult> {
  const file = resultsPath(dir);
  if (!existsSync(file))
    throw new UsageError(`--resume: ${file} does not exist`, 'resume in the --out folder of an earlier run, or leave --resume out');
  let r: ResultsFile;
  try {
    r = JSON.parse(readFileSync(file, 'utf8')) as ResultsFile;
  } catch (e) {
    throw new UsageError(`--resume: ${file} is not readable JSON (${(e as Error).message})`, 'leave --resume out to start afresh');
  }
  if (r.topology?.name !== topologyName) {
    throw new UsageError(
      `--resume: ${file} is from topology "${r.topology?.name}", not "${topologyName}"`,
      'resume with the same --topology',
    );
  }
  return new Map(r.runs.filter((x) => x.status !== 'skipped').map((x) => [x.mode, x]));
}

export interface RecordOptions {
  outDir: string;
  topology: Topology;
  /** Every mode of the run, in the order results.json lists them (the resumed ones included). */
  modes: readonly ModeDef[];
  /** Runs an earlier run in this folder finished (--resume): kept, not run again. */
  previous?: ReadonlyMap<string, RunResult>;
  /** A write that may find the disk full (OutDir.withRoom frees the room kept for it). */
  withRoom?: <T>(write: () => T) => T;
  progress?: Progress;
}

/** The top of results.json: the lab's nodes, as every report lists them. */
export const topologyHeader = (t: Topology): ResultsFile['topology'] => ({
  name: t.name,
  nodes: t.nodes.map((n) => ({ name: n.name, subnet: n.subnet.name, underlayIp: formatIpv4(n.ip) })),
});

/** results.json of one run, kept up to date as modes finish. */
export class ResultsRecord {
  private readonly finished: RunResult[];
  private readonly startedAt = new Date().toISOString();
  private readonly t0 = performance.now();
  /** A results.json that could not be written (a full disk): said once, and the run goes on. */
  unwritten: Error | undefined;

  constructor(private readonly o: RecordOptions) {
    this.finished = [...(o.previous?.values() ?? [])];
    // A library caller's folder may not exist yet (the CLI's is claimed, and so made, before the run).
    mkdirSync(o.outDir, { recursive: true });
  }

  /** A mode's result, as it finishes: results.json is rewritten at once. */
  add(r: RunResult): void {
    this.finished.push(r);
    this.incomplete('running');
  }

  get done(): number {
    return this.finished.length;
  }

  /** results.json marked incomplete, with why (running, a signal): what is done so far. */
  incomplete(reason: string): void {
    const why = this.unwritten ? `${reason}; ${this.unwritten.message}` : reason;
    this.write({ ...this.head(), runs: this.ordered(), incomplete: { reason: why, done: this.finished.length, of: this.o.modes.length } });
  }

  /** The whole file once every mode has a result (`runs`, in the modes' order): written, and returned for the reports. */
  complete(runs: RunResult[], extra: Pick<ResultsFile, 'underlay' | 'perfSettings' | 'perfSchedule'>): ResultsFile {
    const defined = Object.fromEntries(Object.entries(extra).filter(([, v]) => v !== undefined));
    const whole: ResultsFile = { ...this.head(), runs, ...defined, meta: this.meta() };
    this.write(whole);
    return whole;
  }

  private head() {
    return { topology: topologyHeader(this.o.topology), meta: this.meta() };
  }
  private meta(): NonNullable<ResultsFile['meta']> {
    return {
      cnilab: pkg.version,
      startedAt: this.startedAt,
      host: hostname(),
      kernel: release(),
      durationMs: Math.round(performance.now() - this.t0),
    };
  }
  /** In the order the modes were asked for (backends finish in any order); a mode switched to twice has both runs. */
  private ordered(): RunResult[] {
    const at = (r: RunResult) => this.o.modes.findIndex((m) => m.name === r.mode);
    return [...this.finished].sort((a, b) => at(a) - at(b));
  }
  private write(r: ResultsFile): void {
    try {
      (this.o.withRoom ?? ((w) => w()))(() => writeResultsAtomic(this.o.outDir, r));
    } catch (e) {
      if (!(e instanceof OutputError)) throw e;
      if (!this.unwritten) this.o.progress?.(`results.json not updated: ${e.message}`);
      this.unwritten = e;
    }
  }
}
