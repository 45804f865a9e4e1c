// The netns backend: one lab in local network namespaces on this host's kernel, every mode in turn,
// switched live. Its nodes are reachable from here, so the check layer works on its LabView.
import { LabError } from '../../errors.ts';
import pLimit from 'p-limit';
import { isAlive } from '../../kernel/procs.ts';
import { modeNeeds } from '../../host/doctor.ts';
import type { ModeDef } from '../../modes/mode.ts';
import { run } from '../../kernel/exec.ts';
import { labOfNetns, perfLabName, probeNetnsOwner } from '../../plan/names.ts';
import type { RunResult } from '../../results/schema.ts';
import type { PerfOptions } from '../../results/samples.ts';
import type { Topology } from '../../topology/types.ts';
import type { Backend, BackendSession, CheckRequest, LabView, Progress, StartOptions } from '../backend.ts';
import { attachNetns, leaveUpNetns } from './attach.ts';
import { Lab, NETNS } from './lab.ts';
import { listLabs, readState, removeLabDir } from './state.ts';
import { teardownLab, teardownOrphans } from './teardown.ts';

class NetnsSession implements BackendSession {
  readonly backend = NETNS;
  private labObj: Lab | undefined;
  private readonly perf: Lab[] = [];
  constructor(
    private readonly topology: Topology,
    private readonly opts: StartOptions,
  ) {}

  get lab(): string {
    return this.opts.name;
  }

  private get live(): Lab {
    if (!this.labObj) throw new LabError(`lab ${this.opts.name} is not up: its session's up() has not finished`);
    return this.labObj;
  }

  async up(mode: ModeDef): Promise<void> {
    this.labObj = await Lab.up(this.topology, mode, {
      name: this.opts.name,
      ...(this.opts.settings ? { settings: this.opts.settings } : {}),
      ...(this.opts.progress ? { progress: this.opts.progress } : {}),
      ...(this.opts.manifest ? { manifest: this.opts.manifest } : {}),
    });
  }
  program(mode: ModeDef) {
    return this.live.switchTo(mode);
  }
  staleState() {
    return this.live.staleState();
  }
  check(mode: ModeDef, req: CheckRequest) {
    return this.opts.checker.check(this.live, mode, req);
  }
  faults(mode: ModeDef, baseline: RunResult, req: CheckRequest) {
    return this.opts.checker.faults(this.live, mode, baseline, req);
  }
  measure(modes: readonly ModeDef[], opts: PerfOptions) {
    return this.opts.checker.measure(this, modes, opts);
  }
  /**
   * A lab per mode for the perf rounds, two built at a time (2 cores; each is kernel work and a
   * daemon's settling), with quiet daemons. The checked lab keeps its mode when it runs no
   * datastore; with one it goes down first (its checks are done, and its etcd ticks every 10 ms,
   * ~6% of a core, while the rounds measure the cores). A manifest's lab is switched through its
   * own API server instead.
   */
  perfLabs(modes: readonly ModeDef[], progress?: Progress): Promise<Map<string, LabView> | undefined> {
    // Asked early (while the gate is shut) and again by the rounds: built once.
    const key = modes.map((m) => m.name).join(',');
    if (this.perfBuilt?.key !== key) this.perfBuilt = { key, labs: this.buildPerfLabs(modes, progress ?? this.opts.progress) };
    return this.perfBuilt.labs;
  }
  private perfBuilt: { key: string; labs: Promise<Map<string, LabView> | undefined> } | undefined;
  private async buildPerfLabs(modes: readonly ModeDef[], progress?: Progress): Promise<Map<string, LabView> | undefined> {
    if (this.opts.manifest) return undefined;
    const t0 = performance.now();
    const out = new Map<string, LabView>();
    const checked = this.labObj;
    if (checked?.mode && !checked.runsDatastore()) out.set(checked.mode.name, checked);
    else await checked?.down();
    const limit = pLimit(2);
    const build = modes.filter((m) => !out.has(m.name));
    const built = await Promise.allSettled(
      build.map((m, i) =>
        limit(async () => {
          const l = await Lab.up(this.topology, m, {
            name: perfLabName(this.opts.name, i),
            quiet: true,
            ...(this.opts.settings ? { settings: this.opts.settings } : {}),
          });
          this.perf.push(l);
          out.set(m.name, l);
        }),
      ),
    );
    const failed = built.find((b) => b.status === 'rejected');
    if (failed?.status === 'rejected') throw failed.reason;
    progress?.(`perf: ${build.length} labs, a mode each, built in ${Math.round(performance.now() - t0)} ms`);
    return out;
  }
  async down() {
    // The perf labs first: they are the lab's own, made for its rounds (one still being built is
    // waited for, so none comes up after its session went down).
    await this.perfBuilt?.labs.catch(() => undefined);
    await Promise.all(this.perf.splice(0).map((l) => l.down()));
    await this.labObj?.down();
  }
  view() {
    return this.labObj;
  }
  get timings() {
    return this.labObj?.timings;
  }
  async [Symbol.asyncDispose]() {
    await this.down();
  }
}

/**
 * Labs whose owner died (a SIGKILLed run; with `all`, labs left up by `cnilab up` too), and cnilab
 * namespaces no lab claims. Never what a live run owns: a lab or probe namespace whose owner is
 * alive is spared, whatever was asked.
 */
export async function reapNetns(opts: { all?: boolean } = {}): Promise<string[]> {
  const said: string[] = [];
  for (const lab of listLabs()) {
    const s = readState(lab);
    if (!s) continue;
    const live = s.owner !== null && isAlive(s.owner);
    if (live) continue;
    if (opts.all || s.owner !== null) {
      const r = await teardownLab(s);
      said.push(`lab ${lab}: ${r.netns} namespaces, ${r.processes} processes`);
    }
  }
  const known = new Set(listLabs());
  const r = await run(['ip', '-json', 'netns', 'list'], { reject: false });
  const all = r.stdout.trim() ? (JSON.parse(r.stdout) as { name: string }[]).map((x) => x.name) : [];
  const orphans = all.filter((n) => {
    const prober = probeNetnsOwner(n);
    if (prober) return !isAlive(prober);
    const lab = labOfNetns(n);
    return lab !== undefined && !known.has(lab);
  });
  if (orphans.length) {
    await teardownOrphans(orphans);
    said.push(`orphan namespaces: ${orphans.join(', ')}`);
  }
  for (const lab of new Set(orphans.flatMap((n) => labOfNetns(n) ?? []))) removeLabDir(lab);
  return said;
}

export const netnsBackend: Backend = {
  name: NETNS,
  comparable: true,
  async available() {
    return process.getuid?.() === 0
      ? { ok: true, detail: 'this kernel, in network namespaces' }
      : { ok: false, detail: 'needs root to create network namespaces' };
  },
  supports: (mode, host) => modeNeeds(mode, host),
  async start(topology, opts) {
    return new NetnsSession(topology, opts);
  },
  reap: () => reapNetns(),
  attach: attachNetns,
  leaveUp: leaveUpNetns,
};
