// The netns backend: one lab on this host, every mode in turn on it, switched live.
import { Lab, type Progress } from '../lab/lab.ts';
import { checkMode } from '../lab/check.ts';
import type { ModeDef, ModeSettings } from '../modes/mode.ts';
import type { ResultsFile, RunResult } from '../results/schema.ts';
import { measurePerf, type PerfOptions } from '../perf/measure.ts';
import { attachPerf, underlayPerf } from '../perf/summarize.ts';
import type { Topology } from '../topology/types.ts';

export interface RunModesOptions {
  outDir: string;
  name?: string;
  settings?: ModeSettings;
  progress?: Progress;
  count?: number;
  /** Called with each finished run, e.g. to print its table while the next mode runs. */
  onRun?: (r: RunResult) => void;
  /** Measure performance on the same lab once every mode was checked. */
  perf?: PerfOptions;
}

export interface NetnsRuns {
  runs: RunResult[];
  underlay?: ResultsFile['underlay'];
}

export async function runModesNetns(topology: Topology, modes: readonly ModeDef[], opts: RunModesOptions): Promise<NetnsRuns> {
  const progress = opts.progress ?? (() => {});
  let runs: RunResult[] = [];
  let underlay: ResultsFile['underlay'];
  if (modes.length === 0) return { runs };
  const lab = await Lab.up(topology, modes[0]!, { ...(opts.name ? { name: opts.name } : {}), ...(opts.settings ? { settings: opts.settings } : {}), progress });
  try {
    for (const [i, m] of modes.entries()) {
      const from = lab.mode?.name;
      if (i > 0) await lab.switchTo(m);
      const stale = await lab.staleState();
      let r = await checkMode(lab, m, { outDir: opts.outDir, progress, ...(opts.count ? { count: opts.count } : {}) });
      if (i > 0) r = { ...r, switchedFrom: from!, stale };
      if (stale.length) r = { ...r, status: 'failed', reason: [r.reason, `stale kernel state: ${stale.join('; ')}`].filter(Boolean).join('; ') };
      progress(`${m.name}: ${r.status.toUpperCase()} (${r.pairs.filter((p) => p.ok).length}/${r.pairs.length} pairs as expected)`);
      opts.onRun?.(r);
      runs.push(r);
    }
    if (opts.perf) {
      // Each mode once, even when a transition sequence visited it twice.
      const unique = [...new Map(modes.map((m) => [m.name, m])).values()];
      const samples = await measurePerf(lab, unique, { ...opts.perf, progress });
      runs = attachPerf(runs, samples, true);
      underlay = underlayPerf(samples);
    }
  } finally {
    await lab.down();
  }
  return { runs, ...(underlay ? { underlay } : {}) };
}
