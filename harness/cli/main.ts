#!/usr/bin/env node
// cnilab: thin commands over the library. Everything is validated before anything is created.
import { existsSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkoutRoot } from '../kernel/root.ts';
import { errorLine, UsageError } from '../errors.ts';
import type { Check, HostReport } from '../host/doctor.ts';
import type { ModeDef } from '../modes/mode.ts';
import type { Topology } from '../topology/types.ts';
import { allModes, getMode, parseModeSet } from '../modes/registry.ts';
import { LAB_RE, randomLabName } from '../plan/names.ts';
import type { RunResult } from '../results/schema.ts';
import { AGENT_LINE } from '../backends/guest/protocol.ts';
import { parseFlags } from './args.ts';
import { COMMAND_HELP, commandHelp, versionText } from './help.ts';
import { cut, daemonLines, pairsTable, phasesSummary, runsSummary, tableFit, TERMINAL_WIDTH } from './table.ts';

const ROOT = checkoutRoot();
export const DEFAULT_TOPOLOGY = `${ROOT}/topologies/two-subnets.yaml`;

const HELP = `cnilab: Kubernetes pod networks from real kernel devices, checked on the wire

  cnilab run     [--topology F] [--modes a,b] [--out DIR] [--name LAB] [--count N]
                 [--backend netns|uml|qemu|kind|auto] [--resume] [--verbose | --quiet]
                 [--perf [--budget S] [--target PCT] [--margin PCT] [--rounds N] [--seconds S]
                         [--streams P] [--rtt-count N]]
                 build the lab, run every mode, probe and capture, tear down; exit 1 on a mismatch.
                 The terminal shows the summary and the failing pairs (--verbose: every pair and
                 a guest's console; --quiet: the summary); results.json is written after every
                 mode, and --resume runs only the modes not done in --out. --perf then measures
                 RTT, TCP throughput, CPU per GB and MTU per mode against the underlay, in short
                 interleaved rounds until every ratio is within ±PCT% (5) or S seconds (180) have
                 passed
  cnilab compare A/results.json B/results.json        what changed, and is it more than noise
  cnilab conform FILE|DIR ... [--topology F] [--out DIR] [--lint-only] [--explain]
                 [--expect PATH=WIRE ...] [--expectations F] [--fail-on warning]
                 kube-flannel.yml, net-conf.json, Canal, calico.yaml, IPPool, Installation: its
                 data plane with sources, what is wrong, what each pod path does, and the lab
                 that proves it on the wire (with a DF packet of the pods' MTU per path)
  cnilab up      [--topology F] --mode M [--name LAB]   build a lab and leave it up
  cnilab up|run  --manifest kube-flannel.yml|calico.yaml [--mode M | --modes a,b] ...   the
                 manifest applied to the lab's own kube-apiserver, flanneld or calico-node run as
                 its DaemonSet says; a switch patches net-conf.json, or the IPPool and
                 calico_backend. run --backend kind [--kubeconfig F]: flannel in a kind cluster
  cnilab switch  MODE [--name LAB] [--keep-leftovers]  switch a live lab to another mode
                 (a real daemon is restarted with the new backend; what it leaves of the old one is
                 reported and removed, or kept with --keep-leftovers)
  cnilab check   [--name LAB] [--out DIR] [--count N]  probe + capture the live lab's current mode
  cnilab status  [--name LAB] [--json]
  cnilab down    [--name LAB [--force] | --all]   a lab a live run owns only with --force
  cnilab gc      reap labs whose owning process is dead (and namespaces nobody owns)
  cnilab doctor  [--json]   what this kernel and host support, and which modes can run here
  cnilab install NAME... | --all   build a real daemon now (kube-apiserver: at the first --manifest)
  cnilab completion bash|zsh       shell completion: source <(cnilab completion bash)
  cnilab modes   [--json]  what each mode programs and must show on the wire
  cnilab help CMD, cnilab CMD --help   a command's flags with their defaults and an example
  cnilab --version   cnilab's version and the real daemons' it builds

Modes: ${wrap(
  allModes().map((m) => m.name),
  93,
).join(',\n       ')}
Default topology: topologies/two-subnets.yaml`;

/** Words joined by ", " into lines of at most `width` characters. */
function wrap(words: readonly string[], width: number): string[] {
  const lines: string[] = [];
  for (const w of words) {
    const last = lines.at(-1);
    if (last !== undefined && last.length + 2 + w.length <= width) lines[lines.length - 1] = `${last}, ${w}`;
    else lines.push(w);
  }
  return lines;
}

const log = (s: string) => process.stderr.write(`${s}\n`);
const t0 = performance.now();
const progress = (s: string) => log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${s}`);

/** --count of run and check: echo requests per pair. */
function pingCount(v: string | undefined): number {
  const count = v === undefined ? 3 : Number(v);
  if (!Number.isInteger(count) || count < 1 || count > 100)
    throw new UsageError(`--count "${v}" must be an integer from 1 to 100`, 'give the number of pings per pair, e.g. --count 3');
  return count;
}

function requireRoot(cmd: string): void {
  if (process.getuid?.() !== 0)
    throw new UsageError(
      `cnilab ${cmd} creates network namespaces and needs root`,
      `run it as root (sudo -E npm run cnilab -- ${cmd} ...)`,
    );
}

function labName(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !LAB_RE.test(v))
    throw new UsageError(`--name "${String(v)}" is not a valid lab name`, 'use 1-12 lowercase letters or digits');
  return v;
}

/** The --out folder, claimed; said when a symlink made it another folder than the one given. */
function outFolder<O extends { path: string }>(claim: (dir: string) => O, given: string | undefined): O {
  const dir = given ?? 'out';
  const out = claim(dir);
  if (out.path !== resolve(dir)) progress(`results go to ${out.path} (--out ${dir} leads there)`);
  return out;
}

/** A number flag in its range, or one line saying which flag and what it takes. */
function numFlag(flag: string, v: string | undefined, def: number, min: number, max: number, integer = false): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max)
    throw new UsageError(`--${flag} "${v}" must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`, `e.g. --${flag} ${def}`);
  return n;
}

type PerfFlags = Partial<Record<'rounds' | 'seconds' | 'streams' | 'rtt-count' | 'budget' | 'target' | 'margin', string>> & {
  perf?: boolean;
};

/** run's --perf settings (undefined without --perf, where its flags are refused). */
function perfFlags(values: PerfFlags) {
  const perf = values.perf
    ? {
        // Short rounds, as many as the budget allows: precision comes from rounds, not from long tests.
        rounds: numFlag('rounds', values.rounds, 3, 2, 50, true),
        // A quarter second a test: on two cores more, shorter rounds narrow a t interval faster
        // than fewer, longer ones (t(2) = 4.3, t(6) = 2.4).
        seconds: numFlag('seconds', values.seconds, 0.25, 0.1, 60),
        streams: numFlag('streams', values.streams, 4, 1, 16, true),
        rttCount: numFlag('rtt-count', values['rtt-count'], 50, 10, 10000, true),
        target: numFlag('target', values.target, 5, 1, 50, true) / 100,
        // Two modes closer than this are equivalent: sampling goes on until every pair is decided.
        margin: numFlag('margin', values.margin, 3, 0.5, 20) / 100,
        budgetSeconds: numFlag('budget', values.budget, 180, 10, 3600, true),
      }
    : undefined;
  const perfOnly = [values.rounds, values.seconds, values.streams, values['rtt-count'], values.budget, values.target, values.margin];
  if (!values.perf && perfOnly.some((v) => v !== undefined))
    throw new UsageError(
      '--rounds, --seconds, --streams, --rtt-count, --budget, --target and --margin only apply with --perf',
      'add --perf',
    );
  return perf;
}

/** What the terminal shows of each finished mode: a progress line with the time to go, then its failing pairs. */
function runPrinter(total: number, done: number, values: { verbose?: boolean; quiet?: boolean }): (r: RunResult) => void {
  let finished = done;
  return (r: RunResult) => {
    finished += r.status === 'skipped' ? 0 : 1;
    const eta =
      finished < total && r.status !== 'skipped'
        ? `; ${finished}/${total} modes, ~${Math.round((((performance.now() - t0) / finished) * (total - finished)) / 1000)} s to go`
        : '';
    progress(`${r.mode} on ${r.backend}: ${r.status.toUpperCase()}${eta}`);
    if (values.quiet) return;
    const bad = r.pairs.filter((p) => !p.ok);
    const shown = values.verbose ? r.pairs : bad.slice(0, 20);
    const more =
      values.verbose || bad.length <= 20
        ? ''
        : `\n... and ${bad.length - 20} more failing pairs (every pair is in report.md and results.json)`;
    const head = [
      `\n== ${r.mode} on ${r.backend}: ${r.status.toUpperCase()}${r.reason ? ` (${cut(r.reason, 200)})` : ''}`,
      ...daemonLines(r),
    ].join('\n');
    console.log(shown.length ? `${head}\n${pairsTable(shown, values.verbose ? undefined : TERMINAL_WIDTH)}${more}` : head);
  };
}

/** A plain run's modes: all but those only run when named, which it names with why (`say`: not for a manifest's run). */
function plainRunModes(say: boolean): ModeDef[] {
  const unnamed = allModes().filter((m) => m.onlyWhenNamed);
  // A plain run says what it leaves out, and why, rather than leaving it out quietly.
  if (say)
    for (const reason of new Set(unnamed.map((m) => m.onlyWhenNamed))) {
      progress(`not in a plain run (${reason}); name them in --modes:`);
      progress(
        `  ${unnamed
          .filter((m) => m.onlyWhenNamed === reason)
          .map((m) => m.name)
          .join(',')}`,
      );
    }
  return allModes().filter((m) => !m.onlyWhenNamed);
}

/** --backend kind runs a manifest; --kubeconfig names a kind cluster of the user's. */
function checkKindFlags(backend: string, kubeconfig: string | undefined, manifest: boolean): void {
  if (kubeconfig !== undefined) {
    if (backend !== 'kind') throw new UsageError('--kubeconfig names a kind cluster of yours', 'add --backend kind --manifest FILE');
    if (!existsSync(kubeconfig)) throw new UsageError(`--kubeconfig ${kubeconfig}: no such file`, 'give the kubeconfig kind wrote');
  }
  if (backend === 'kind' && !manifest) throw new UsageError('--backend kind runs a manifest', 'add --manifest kube-flannel.yml');
}

async function cmdRun(argv: string[]): Promise<number> {
  const { BACKENDS, parseBackend } = await import('../backends/registry.ts');
  const { writeReports } = await import('../report/write.ts');
  const { claimOutDir } = await import('../run/outdir.ts');
  const { finishedRuns } = await import('../run/results-file.ts');
  const { runModes } = await import('../run/run-modes.ts');
  const { loadTopology } = await import('../topology/load.ts');
  const { values } = parseFlags(
    argv,
    {
      topology: { type: 'string' },
      modes: { type: 'string' },
      out: { type: 'string' },
      name: { type: 'string' },
      count: { type: 'string' },
      backend: { type: 'string' },
      perf: { type: 'boolean' },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      streams: { type: 'string' },
      'rtt-count': { type: 'string' },
      budget: { type: 'string' },
      target: { type: 'string' },
      margin: { type: 'string' },
      resume: { type: 'boolean' },
      verbose: { type: 'boolean' },
      quiet: { type: 'boolean' },
      manifest: { type: 'string', multiple: true },
      kubeconfig: { type: 'string' },
    },
    'run',
  );
  if (values.verbose && values.quiet) throw new UsageError('--verbose and --quiet contradict each other', 'give one of them');
  const perf = perfFlags(values);
  const name = labName(values.name) ?? randomLabName();
  const backend = parseBackend(values.backend);
  const count = pingCount(values.count);
  let topology = await loadTopology(values.topology ?? DEFAULT_TOPOLOGY);
  let asked = values.modes !== undefined ? parseModeSet(values.modes) : plainRunModes(values.manifest === undefined);
  const fromManifest = values.manifest
    ? await manifestRun(values.manifest, topology, values.modes !== undefined ? asked : [], backend, values.topology === undefined)
    : undefined;
  if (fromManifest) ({ topology, modes: asked } = fromManifest);
  checkKindFlags(backend, values.kubeconfig, fromManifest !== undefined);
  // Before anything is built: a folder that cannot take the results, or that another live run writes, stops here.
  const out = outFolder(claimOutDir, values.out);
  const outDir = out.path;
  const previous = values.resume ? finishedRuns(outDir, topology.name) : new Map<string, RunResult>();
  requireRoot('run');
  const modes = asked.filter((m) => !previous.has(m.name));
  // Modes named on the command line get their daemons built the first time (a plain run skips them, saying how).
  if (values.modes !== undefined || fromManifest) await buildDaemonsFor(modes);
  if (previous.size) progress(`--resume: ${previous.size} modes already done in ${outDir}: ${[...previous.keys()].join(', ')}`);

  const show = runPrinter(asked.length, previous.size, values);
  progress(
    `lab ${topology.name}: ${topology.nodes.length} nodes, ${topology.nodes.reduce((a, n) => a + n.pods.length, 0)} pods, ` +
      `${modes.length} modes`,
  );
  const done = await runModes({
    topology,
    modes: asked,
    previous,
    withRoom: out.withRoom,
    backend,
    outDir,
    name,
    count,
    onRun: show,
    progress,
    onConsole: (b, l) => {
      // A line per guest step (the agent's own); the kernel's messages stay in <backend>-console.log
      // unless --verbose. A guest that fails names that log and shows its last lines (consoleTailLines).
      if (l.trim() && (values.verbose || AGENT_LINE.test(l))) log(`  ${b}| ${l}`);
    },
    ...(perf ? { perf: { ...perf, budgetMs: perf.budgetSeconds * 1000 } } : {}),
    ...(fromManifest ? { manifest: fromManifest.manifest, settings: topology.settings } : {}),
    ...(fromManifest?.reading && fromManifest.own ? { reading: { mode: fromManifest.own.name, reading: fromManifest.reading } } : {}),
    ...(values.kubeconfig ? { kubeconfig: resolve(values.kubeconfig) } : {}),
  });
  const where = (b: string) => done.placements.filter((p) => 'backend' in p && p.backend.name === b).map((p) => p.mode.name);
  for (const b of BACKENDS) {
    // One progress line per few modes: the terminal is 100 columns wide.
    const names = where(b.name);
    for (let i = 0; i < names.length; i += 4) progress(`on ${b.name}: ${names.slice(i, i + 4).join(', ')}`);
  }
  for (const r of done.runs.filter((x) => x.status === 'skipped')) show(r);
  const { results } = done;
  const all = results.runs;
  const phases = phasesSummary(all);
  console.log(`\n${runsSummary(all)}\n${phases ? `\n${phases}\n` : ''}`);
  // --perf: which mode is faster, pair by pair (the reports have the matrix).
  const { pairMatrix } = await import('../report/rows.ts');
  const told = pairMatrix(results).lines;
  if (told.length) console.log(`${told.map((l) => cut(l, TERMINAL_WIDTH)).join('\n')}\n`);
  // The summary is shown first: a report that cannot be written (ENOSPC) does not hide the verdicts.
  const files = await out.withRoom(() => writeReports(outDir, results));
  out.release();
  console.log(`wrote ${files.map((f) => basename(f)).join(', ')} in ${outDir}`);
  return all.some((r) => r.status === 'failed') ? 1 : 0;
}

/**
 * run --manifest: the lab's network from the manifest, its own data plane first, then the --modes
 * asked (each the same real daemon's: flanneld-* reached by patching net-conf.json, calico-node-*
 * by patching the IPPool and calico_backend), all on this kernel.
 */
async function manifestRun(files: string[], topology: Topology, more: readonly ModeDef[], backend: string, placeUnderlay: boolean) {
  const { manifestBackend, manifestModes, readManifest } = await import('../run/manifest.ts');
  // Before the manifest is read: a backend that cannot run one is said first.
  manifestBackend(backend);
  const ml = await readManifest(files, topology, placeUnderlay);
  const { own, modes } = manifestModes(ml, more, backend);
  progress(
    `manifest: ${ml.manifest.objects.length} objects; ${ml.says}` +
      (own ? ` (${own.name})` : `: not run (${'none' in ml.mode ? ml.mode.none : ''}); the --modes asked are`),
  );
  // The lab's own API server is built the first time a manifest needs it (a plain run never does).
  if (backend !== 'kind' && process.getuid?.() === 0) {
    const { ensureBuilt } = await import('../host/install.ts');
    const { kubeApiserverBinary } = await import('../host/daemons.ts');
    await ensureBuilt('kube-apiserver', kubeApiserverBinary);
  }
  return { ...ml, mode: modes[0]!, modes, ...(own ? { own } : {}) };
}

/**
 * The real Calico's parts, built from their Go modules the first time a mode that needs them is
 * asked for by name (minutes, once; the progress line says how long): calico-node (with Debian's
 * BIRD 1.6 and confd's templates), the Calico CNI plugin, and the API server they store in.
 */
async function buildDaemonsFor(modes: readonly ModeDef[]): Promise<void> {
  if (!modes.some((m) => m.needs.tools.includes('calico-node')) || process.getuid?.() !== 0) return;
  const { ensureBuilt } = await import('../host/install.ts');
  const d = await import('../host/daemons.ts');
  await ensureBuilt('calico-node', d.calicoNodeBinary);
  await ensureBuilt('calico-cni', d.calicoCniBinary);
  await ensureBuilt('kube-apiserver', d.kubeApiserverBinary);
}

async function cmdUp(argv: string[]): Promise<number> {
  const { getBackend } = await import('../backends/registry.ts');
  const { doctor, modeNeeds } = await import('../host/doctor.ts');
  const { loadTopology } = await import('../topology/load.ts');
  const { values } = parseFlags(
    argv,
    { topology: { type: 'string' }, mode: { type: 'string' }, name: { type: 'string' }, manifest: { type: 'string', multiple: true } },
    'up',
  );
  if (values.manifest) return upFromManifest(values.manifest, values);
  if (!values.mode)
    throw new UsageError(
      '--mode is required',
      `use one of: ${allModes()
        .map((m) => m.name)
        .join(', ')}`,
    );
  const mode = getMode(values.mode);
  await buildDaemonsFor([mode]);
  const name = labName(values.name);
  const topology = await loadTopology(values.topology ?? DEFAULT_TOPOLOGY);
  requireRoot('up');
  const can = modeNeeds(mode, await doctor());
  if (!can.ok) throw new UsageError(`mode ${mode.name} cannot run on this host: ${can.detail}`, 'run "cnilab doctor" for details');
  const lab = await getBackend('netns').leaveUp!(topology, mode, { ...(name ? { name } : {}), progress });
  console.log(
    `lab ${lab.name} is up in mode ${mode.name}; "cnilab status --name ${lab.name}" shows it, "cnilab down --name ${lab.name}" removes it`,
  );
  return 0;
}

/** up --manifest: the lab from the manifest, its daemon (flanneld or calico-node) as its DaemonSet runs it, left up. */
async function upFromManifest(files: string[], values: { topology?: string; mode?: string; name?: string }): Promise<number> {
  const { getBackend } = await import('../backends/registry.ts');
  const { attachLab } = await import('../backends/labs.ts');
  const { requireApiserver } = await import('../program/apiserver.ts');
  const { loadTopology } = await import('../topology/load.ts');
  const name = labName(values.name);
  const topology = await loadTopology(values.topology ?? DEFAULT_TOPOLOGY);
  const ml = await manifestRun(files, topology, values.mode ? [getMode(values.mode)] : [], 'netns', values.topology === undefined);
  requireRoot('up');
  await buildDaemonsFor(ml.modes);
  await requireApiserver();
  const lab = await getBackend('netns').leaveUp!(ml.topology, ml.mode, {
    ...(name ? { name } : {}),
    progress,
    manifest: ml.manifest,
    settings: ml.topology.settings,
  });
  if (values.mode && values.mode !== ml.mode.name) await lab.switchTo(getMode(values.mode));
  const kube = attachLab(lab.name).status().kube!;
  console.log(
    `lab ${lab.name} is up in mode ${lab.mode?.name}, its manifest applied to ${kube.apiserver}; ` +
      `kubeconfig: ${kube.kubeconfig}\n"cnilab status --name ${lab.name}" shows it, "cnilab down --name ${lab.name}" removes it`,
  );
  return 0;
}

async function cmdSwitch(argv: string[]): Promise<number> {
  const { own } = await import('../kernel/lifecycle.ts');
  const { values, positionals } = parseFlags(argv, { name: { type: 'string' }, 'keep-leftovers': { type: 'boolean' } }, 'switch');
  if (positionals.length !== 1)
    throw new UsageError(
      'cnilab switch takes one mode',
      `e.g. cnilab switch flannel-vxlan; modes: ${allModes()
        .map((m) => m.name)
        .join(', ')}`,
    );
  const mode = getMode(positionals[0]!);
  await buildDaemonsFor([mode]);
  requireRoot('switch');
  const { attachLab, liveLab } = await import('../backends/labs.ts');
  const attached = attachLab(labName(values.name), progress);
  attached.refuseIfRunOwned(`switching it to ${mode.name}`, 'wait for the run to end; "cnilab up" makes a lab of your own');
  const lab = await liveLab(attached, 'switch');
  const unlock = lab.lockSwitch(`cnilab switch ${mode.name}`);
  // Interrupted half-way (Ctrl-C, SIGTERM), the lab is neither mode: say so in its state.
  const release = own({ down: async () => lab.markBroken(`a switch to ${mode.name} was interrupted`) });
  try {
    await lab.switchTo(mode, { keepDaemonLeftovers: values['keep-leftovers'] === true });
  } finally {
    release();
    unlock();
  }
  const left = lab.daemonReport?.()?.daemonFacts?.leftBehind ?? [];
  if (left.length) {
    console.log(
      `${lab.daemonReport?.()?.daemon} left ${left.length} facts of its previous backend ` +
        `(${values['keep-leftovers'] ? 'kept, as --keep-leftovers asked' : 'recorded, then removed'}):\n  ${left.join('\n  ')}`,
    );
  }
  const stale = await lab.staleState();
  if (stale.length) {
    console.log(`lab ${lab.name} is in mode ${mode.name}, but the kernel holds state it should not:\n  ${stale.join('\n  ')}`);
    return 1;
  }
  console.log(
    `lab ${lab.name} is now in mode ${mode.name}; ` +
      (left.length && values['keep-leftovers'] ? "cnilab's own check finds nothing else stale" : 'no state of the previous mode is left'),
  );
  return 0;
}

async function cmdCheck(argv: string[]): Promise<number> {
  const { attachLab, liveLab } = await import('../backends/labs.ts');
  const { checkMode } = await import('../check/index.ts');
  const { claimOutDir } = await import('../run/outdir.ts');
  const { values } = parseFlags(argv, { name: { type: 'string' }, out: { type: 'string' }, count: { type: 'string' } }, 'check');
  const count = pingCount(values.count);
  requireRoot('check');
  const lab = await liveLab(attachLab(labName(values.name), progress), 'check');
  const mode = lab.mode;
  if (lab.broken)
    throw new UsageError(
      `lab ${lab.name} is broken: ${lab.broken}`,
      `switch it to a mode again, or remove it with "cnilab down --name ${lab.name}"`,
    );
  if (!mode) throw new UsageError(`lab ${lab.name} has no mode programmed`, 'run "cnilab switch MODE" first');
  const out = outFolder(claimOutDir, values.out);
  const r = await checkMode(lab, mode, { outDir: out.path, progress, count });
  out.release();
  if (r.pairs.some((p) => p.error))
    log(`${r.pairs.filter((p) => p.error).length} pairs were not judged: ${r.pairs.find((p) => p.error)!.error}`);
  console.log(pairsTable(r.pairs));
  for (const l of daemonLines(r)) console.log(l);
  return r.status === 'passed' ? 0 : 1;
}

async function cmdStatus(argv: string[]): Promise<number> {
  const { attachLab } = await import('../backends/labs.ts');
  const { values } = parseFlags(argv, { name: { type: 'string' }, json: { type: 'boolean' } }, 'status');
  const s = attachLab(labName(values.name)).status();
  if (values.json) {
    console.log(JSON.stringify(s, null, 2));
    return 0;
  }
  const say = (l: string) => console.log(cut(l, TERMINAL_WIDTH));
  const owner = s.owner ? `owned by pid ${s.owner.pid}` : 'detached';
  say(`lab ${s.lab}: ${s.health}, mode ${s.mode ?? '(none)'}, backend ${s.backend}, ${owner}`);
  for (const p of s.problems) say(`  ${p}`);
  if (s.daemon) say(`programmed by ${s.daemon}; leases are its own${s.datastore ? `; ${s.datastore}` : ''}`);
  if (s.kube) {
    say(`${s.kube.apiserver} at ${s.kube.server}`);
    say(`  kubeconfig: ${s.kube.kubeconfig}`);
    if (s.kube.daemonSet)
      say(
        s.kube.annotationsBy === 'flannel annotations' ? `flanneld from DaemonSet ${s.kube.daemonSet}` : `calico-node: ${s.kube.daemonSet}`,
      );
    if (s.kube.backend) say(`  net-conf.json Backend ${s.kube.backend}`);
  }
  // Namespaces are in --json; the table keeps to 100 columns.
  console.log(
    tableFit(
      ['node', 'underlay', s.daemon ? 'lease' : 'pod subnet', 'pods', ...(s.kube ? [s.kube.annotationsBy] : [])],
      s.nodes.map((n) => [
        n.name,
        n.underlayIp,
        n.podRange,
        n.pods.map((p) => `${p.name}=${p.ip ?? '?'}`).join(' '),
        ...(s.kube ? [(s.kube.annotations[n.name] ?? '(none)').replace(` ${n.underlayIp}`, '')] : []),
      ]),
    ),
  );
  return 0;
}

async function cmdDown(argv: string[]): Promise<number> {
  const { gc } = await import('../backends/gc.ts');
  const { attachLab } = await import('../backends/labs.ts');
  const { values } = parseFlags(argv, { name: { type: 'string' }, all: { type: 'boolean' }, force: { type: 'boolean' } }, 'down');
  requireRoot('down');
  if (values.all) {
    const r = await gc({ all: true, progress });
    console.log(r.length ? `removed: ${r.join('; ')}` : 'nothing was up');
    return 0;
  }
  const lab = attachLab(labName(values.name), progress);
  if (!values.force) lab.refuseIfRunOwned('taking it down', 'wait for the run (it tears its lab down itself), or add --force');
  const how = await lab.down();
  console.log(`lab ${lab.name} is down${how ? ` (${how})` : ''}`);
  return 0;
}

async function cmdCompletion(argv: string[]): Promise<number> {
  const { completionScript } = await import('./completion.ts');
  const { positionals } = parseFlags(argv, {}, 'completion');
  const shell = positionals[0];
  if (shell !== 'bash' && shell !== 'zsh')
    throw new UsageError('cnilab completion takes bash or zsh', 'e.g. source <(cnilab completion bash)');
  console.log(
    completionScript(
      shell,
      allModes().map((m) => m.name),
    ),
  );
  return 0;
}

async function cmdInstall(argv: string[]): Promise<number> {
  const { buildTool } = await import('../host/install.ts');
  const { GO_TOOLS } = await import('../host/daemons.ts');
  const { values, positionals } = parseFlags(argv, { all: { type: 'boolean' } }, 'install');
  const names = values.all ? Object.keys(GO_TOOLS) : positionals;
  if (!names.length) throw new UsageError('cnilab install needs a name or --all', `names: ${Object.keys(GO_TOOLS).join(', ')}`);
  const unknown = names.filter((n) => !GO_TOOLS[n]);
  if (unknown.length) throw new UsageError(`no tool named ${unknown.join(', ')}`, `names: ${Object.keys(GO_TOOLS).join(', ')}`);
  requireRoot('install');
  // kind only where Docker runs: --all builds what this host can use, as ci/ensure.sh --all does.
  for (const n of names) if (!(values.all && n === 'kind')) await buildTool(n);
  console.log(`built: ${names.filter((n) => !(values.all && n === 'kind')).join(', ')}`);
  return 0;
}

async function cmdGc(argv: string[]): Promise<number> {
  const { gc } = await import('../backends/gc.ts');
  parseFlags(argv, {}, 'gc');
  requireRoot('gc');
  const r = await gc({ progress });
  console.log(r.length === 0 ? 'nothing to reap' : `reaped: ${r.join('; ')}`);
  return 0;
}

async function printDoctor(
  r: HostReport,
  backends: { name: string; available: Check }[],
  placement: Record<string, { backend: string | null; reason?: string }>,
): Promise<void> {
  const { modeNeeds } = await import('../host/doctor.ts');
  console.log(`root: ${r.root ? 'yes' : 'no (kernel features not probed)'}`);
  console.log('\nkernel (tried in a throwaway namespace):');
  console.log(
    tableFit(
      ['feature', 'ok', 'detail'],
      Object.entries(r.kernel).map(([k, v]) => [k, v.ok ? 'yes' : 'no', v.detail]),
    ),
  );
  console.log('\ntools:');
  console.log(
    tableFit(
      ['tool', 'ok', 'detail'],
      Object.entries(r.tools).map(([k, v]) => [k, v.ok ? 'yes' : 'no', v.detail]),
    ),
  );
  console.log('\nbackends:');
  console.log(
    tableFit(
      ['backend', 'ok', 'detail'],
      backends.map((b) => [b.name, b.available.ok ? 'yes' : 'no', b.available.detail]),
    ),
  );
  console.log('\nmodes (--backend auto):');
  console.log(
    tableFit(
      ['mode', 'runs on', 'why'],
      Object.entries(placement).map(([m, p]) => [
        m,
        p.backend ?? 'SKIPPED',
        p.reason ?? (p.backend === 'netns' ? 'this kernel has what it needs' : `this kernel: ${modeNeeds(getMode(m), r).detail}`),
      ]),
    ),
  );
}

async function cmdDoctor(argv: string[]): Promise<number> {
  const { BACKENDS } = await import('../backends/registry.ts');
  const { doctor } = await import('../host/doctor.ts');
  const { placeModes } = await import('../run/run-modes.ts');
  const { values } = parseFlags(argv, { json: { type: 'boolean' } }, 'doctor');
  const r = await doctor();
  const backends = await Promise.all(BACKENDS.map(async (b) => ({ name: b.name, available: await b.available() })));
  const placed = await placeModes(allModes(), 'auto', r);
  const placement = Object.fromEntries(
    placed.map((p) => [p.mode.name, 'skip' in p ? { backend: null, reason: p.skip } : { backend: p.backend.name }]),
  );
  const { installTimes } = await import('../host/daemons.ts');
  const install = installTimes();
  if (values.json) console.log(JSON.stringify({ ...r, backends, placement, install }, null, 2));
  else {
    await printDoctor(r, backends, placement);
    // Where the last installs' time went (ci/ensure.sh records each phase): a slow first run explains itself.
    if (install.length)
      console.log(
        `\nlast install phases (seconds):\n${tableFit(
          ['phase', 'seconds', 'when'],
          install.map((p) => [p.phase, String(p.seconds), p.at]),
        )}`,
      );
  }
  return 0;
}

async function cmdAgent(argv: string[]): Promise<number> {
  const { serveAgent } = await import('../run/agent.ts');
  const { values } = parseFlags(argv, { dir: { type: 'string' } }, 'agent');
  if (!values.dir) throw new UsageError('--dir is required', 'cnilab agent runs inside a guest: --dir is its shared control folder');
  return serveAgent(values.dir);
}

async function cmdModes(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { json: { type: 'boolean' } }, 'modes');
  if (values.json) {
    const modes = allModes().map((m) => ({
      name: m.name,
      family: m.family,
      summary: m.summary,
      programs: m.programs,
      needs: m.needs,
      config: m.config ?? null,
    }));
    console.log(JSON.stringify(modes, null, 2));
    return 0;
  }
  for (const m of allModes()) console.log(`${m.name} [${m.family}]\n  ${m.summary}\n  ${m.programs}\n`);
  return 0;
}

async function cmdCompare(argv: string[]): Promise<number> {
  const { compareResults, hasRegression, renderComparison } = await import('../report/compare.ts');
  const { validateResults } = await import('../report/validate.ts');
  const { positionals } = parseFlags(argv, {}, 'compare');
  if (positionals.length !== 2)
    throw new UsageError('cnilab compare takes two results.json files', 'cnilab compare before/results.json after/results.json');
  const [a, b] = positionals.map((f) => {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(f!, 'utf8'));
    } catch (e) {
      throw new UsageError(`cannot read ${f}: ${(e as Error).message}`, 'give the results.json a `cnilab run` wrote');
    }
    const v = validateResults(raw);
    if (!v.ok)
      throw new UsageError(
        `${f} is not a cnilab results file:\n    ${v.errors.slice(0, 8).join('\n    ')}`,
        'give the results.json a `cnilab run` wrote',
      );
    return v.value;
  });
  const c = compareResults(a!, b!);
  console.log(renderComparison(c));
  return hasRegression(c) ? 1 : 0;
}

/** conform's intended paths: a file of PATH: WIRE lines, kept next to the config, and --expect over it. */
async function conformExpects(file: string | undefined, flags: string[] | undefined) {
  const { expectation, readExpectations } = await import('../conform/expectations.ts');
  const expects = file ? readExpectations(file) : {};
  for (const e of flags ?? []) {
    const [k = '', v] = e.split('=');
    const [path, want] = expectation(k, v, `--expect ${e}`);
    expects[path] = want;
  }
  return expects;
}

async function cmdConform(argv: string[]): Promise<number> {
  const { readInputs } = await import('../conform/inputs.ts');
  const { conform, conformanceResult } = await import('../conform/conform.ts');
  const { readingLines, wireLines } = await import('./conform-lines.ts');
  const { loadTopology } = await import('../topology/load.ts');
  const { values, positionals } = parseFlags(
    argv,
    {
      topology: { type: 'string' },
      out: { type: 'string' },
      name: { type: 'string' },
      'lint-only': { type: 'boolean' },
      explain: { type: 'boolean' },
      expect: { type: 'string', multiple: true },
      expectations: { type: 'string' },
      'fail-on': { type: 'string' },
    },
    'conform',
  );
  if (!positionals.length) throw new UsageError('cnilab conform needs a file or folder', 'e.g. cnilab conform kube-flannel.yml');
  const failOn = values['fail-on'] ?? 'error';
  if (failOn !== 'error' && failOn !== 'warning')
    throw new UsageError(`--fail-on ${failOn}: not a severity`, 'use --fail-on warning (or error, the default)');
  const expects = await conformExpects(values.expectations, values.expect);
  // Everything the user gave is read and checked before anything is built.
  const docs = readInputs(positionals);
  const topology = await loadTopology(resolve(values.topology ?? DEFAULT_TOPOLOGY));
  const lintOnly = values['lint-only'] === true;
  const { doctor } = await import('../host/doctor.ts');
  const host = lintOnly ? undefined : await doctor();
  // A mode runs here when some backend takes it: this kernel, or a guest for what it lacks (IPIP).
  const { lazyAvailability, placeMode } = await import('../backends/placement.ts');
  const { BACKENDS } = await import('../backends/registry.ts');
  const backends = lazyAvailability(BACKENDS);
  const runs = host ? async (m: ModeDef) => 'backend' in (await placeMode(m, 'auto', host, backends)) : undefined;
  const c = await conform(docs, topology, { expects, lintOnly, placeUnderlay: values.topology === undefined, ...(runs ? { runs } : {}) });
  const cc = c.conformance;
  for (const l of readingLines(cc, values.explain === true)) console.log(l);

  let run: RunResult | undefined;
  let claimed: string | undefined;
  if (!lintOnly && 'mode' in cc.proof && c.mode && c.topology) {
    const { claimOutDir } = await import('../run/outdir.ts');
    const { runModes } = await import('../run/run-modes.ts');
    const outDir = outFolder(claimOutDir, values.out).path;
    claimed = outDir;
    requireRoot('conform');
    const { FAMILY_STYLE } = await import('../modes/mode.ts');
    console.log(`\nproving it on the wire with ${c.mode.name} (${FAMILY_STYLE[c.mode.family].label})`);
    const r = await runModes({
      topology: c.topology,
      modes: [c.mode],
      outDir,
      settings: c.topology.settings,
      mtuProbe: true,
      progress,
      ...(values.name ? { name: labName(values.name)! } : {}),
      ...(host ? { host } : {}),
    });
    run = r.runs[0];
  } else if (!lintOnly && 'skip' in cc.proof) console.log(`\nnot proven on the wire: ${cc.proof.skip}`);
  const result = conformanceResult(cc, run, failOn);
  for (const l of wireLines(result)) console.log(l);
  if (values.out || run) {
    const { writeReports } = await import('../report/write.ts');
    const { claimOutDir } = await import('../run/outdir.ts');
    const { topologyHeader } = await import('../run/results-file.ts');
    const outDir = claimed ?? outFolder(claimOutDir, values.out).path;
    const files = await writeReports(outDir, {
      topology: topologyHeader(topology),
      runs: run ? [run] : [],
      conformance: result,
    });
    console.log(`\nwrote ${files.map((f) => basename(f)).join(', ')} in ${outDir}`);
  }
  const warned = failOn === 'warning' && result.findings.some((f) => f.severity === 'warning');
  console.log(`\n${result.verdict.toUpperCase()}${warned ? ' (--fail-on warning: warnings count)' : ''}`);
  return result.verdict === 'conformant' ? 0 : 1;
}

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  compare: cmdCompare,
  conform: cmdConform,
  run: cmdRun,
  up: cmdUp,
  switch: cmdSwitch,
  check: cmdCheck,
  status: cmdStatus,
  down: cmdDown,
  gc: cmdGc,
  install: cmdInstall,
  completion: cmdCompletion,
  doctor: cmdDoctor,
  modes: cmdModes,
  agent: cmdAgent,
};

let stopping = false;
function onSignal(sig: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  log(`\n${sig}: stopping; tearing down what this run made...`);
  const code = sig === 'SIGINT' ? 130 : 143;
  // Loaded already by any command that built something; a module import cannot fail half-way here.
  void import('../kernel/lifecycle.ts').then(({ shutdown }) => shutdown()).then(() => process.exit(code));
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === 'version') {
    console.log(versionText());
    return 0;
  }
  // `cnilab help CMD`, `cnilab CMD --help` and `-h` (before any `--`): that command's usage, flags and an example.
  const flags = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  const asked = cmd === 'help' ? rest[0] : flags.some((a) => a === '--help' || a === '-h') ? cmd : undefined;
  if (asked && COMMAND_HELP[asked]) {
    console.log(commandHelp(asked));
    return 0;
  }
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    if (cmd === 'help' && rest[0]) log(`cnilab: no command "${rest[0]}"; the commands are below`);
    console.log(HELP);
    return cmd === 'help' && rest[0] ? 2 : cmd ? 0 : 2;
  }
  const f = COMMANDS[cmd];
  if (!f) {
    log(`cnilab: unknown command "${cmd}"\n    fix: use one of: ${Object.keys(COMMANDS).join(', ')}`);
    return 2;
  }
  // Once per process: a test calls main() many times in one.
  if (!process.listeners('SIGINT').includes(onSignal)) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  try {
    return await f(rest);
  } catch (e) {
    if (stopping) return 130;
    const { text, exitCode } = errorLine(e);
    log(`cnilab ${cmd}: ${text}`);
    return exitCode;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      // Signal teardown exits by itself.
      if (!stopping) process.exit(code);
    },
    (e) => {
      log(`cnilab: ${errorLine(e).text}`);
      process.exit(1);
    },
  );
}
