// The wire check of one mode: warm up (neighbours resolved, the underlay's RTT sets the reply
// deadline), capture every underlay segment, probe every ordered pod pair at once through one
// prober process (each probe marks its packets), end the round on every capture with a marker frame,
// then judge each pair against what the mode must do: only on whole captures, since a capture that
// lost packets cannot prove an absence, and a pair it covers is an error, not a verdict.
// Works on any LabView: the nodes are reached through their executors.
import { mkdirSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { relative } from 'node:path';
import type { CapturePoint, CheckRequest, LabView } from '../backends/backend.ts';
import { decode, DEFAULT_UDP_TUNNEL_PORTS, DEFAULT_VXLAN_PORTS } from '../capture/decode.ts';
import { forEachPacket, PcapFormatError } from '../capture/pcap-reader.ts';
import { CaptureError, END_WAIT_MS, startCapture, type RunningCapture, type StoppedCapture } from '../capture/tcpdump.ts';
import type { ModeDef } from '../modes/mode.ts';
import { vxlanPortsOf } from '../modes/registry.ts';
import { WireTally } from '../oracle/classify.ts';
import { pairResult, type ProbeOutcome } from '../oracle/verdict.ts';
import { endMarker, probeMarker } from '../probe/marker.ts';
import { answerOutcome, markerPayload, startProber, type Prober } from '../probe/prober.ts';
import type { CaptureStat, PairResult, Probing, RunResult } from '../results/schema.ts';
import { labNames } from '../plan/names.ts';
import type { PodRuntime } from '../plan/pods.ts';
import { pathBetween } from '../topology/types.ts';
import { probePodMtu } from './mtu-probe.ts';
import { searchMtu } from './mtu-search.ts';
import { warmUp } from './warmup.ts';

export async function checkMode(lab: LabView, mode: ModeDef, opts: CheckRequest): Promise<RunResult> {
  const progress = opts.progress ?? (() => {});
  const pcapDir = `${opts.outDir}/pcaps/${mode.name}`;
  mkdirSync(pcapDir, { recursive: true });
  const runTag = Math.floor(Math.random() * 256);

  const pods = lab.pods;
  const pairs = pods.flatMap((src) => pods.filter((dst) => dst.id !== src.id).map((dst) => ({ src, dst })));
  const fileOf = (segment: string) => `${pcapDir}/underlay-${segment}.pcap`;

  const captures: { point: CapturePoint; cap: RunningCapture }[] = [];
  let results: PairResult[];
  const stats: CaptureStat[] = [];
  const phases: NonNullable<RunResult['phases']> = {};
  let t0 = performance.now();
  const lap = (phase: keyof typeof phases) => {
    const now = performance.now();
    phases[phase] = Math.round(now - t0);
    t0 = now;
  };
  const prober = startProber(labNames(lab.lab).prefix);
  let probing: Probing;
  try {
    // The warm-up runs while the captures start; its packets carry no marker of this run.
    const startCaptures = Promise.all(
      lab.capturePoints.map(async (point) =>
        captures.push({ point, cap: await startCapture({ exec: point.exec, iface: point.iface, file: fileOf(point.segment) }) }),
      ),
    );
    // Awaited below; until then a tcpdump that fails at once must not be an unhandled rejection.
    startCaptures.catch(() => undefined);
    probing = await warmUp(lab, prober);
    lap('warmup');
    const w = probing.warmup;
    if (w.answered < w.probes)
      progress(
        `${mode.name}: warm-up: ${w.probes - w.answered} of ${w.probes} pod-to-node and node-to-node pings unanswered` +
          `${w.error ? ` (${w.error})` : ''}; first contact may reach the measured round`,
      );
    await startCaptures;
    lap('captureStart');
    // Every pair at once, one process: a pair that the prober could not probe is an error, never "unreachable".
    const answers = await prober.round(
      pairs.map((p, i) => ({
        from: lab.executor(p.src.netns),
        dst: p.dst.ip,
        payload: markerPayload(probeMarker(runTag, i)),
        count: opts.count ?? 3,
      })),
      { deadlineMs: probing.deadlineMs },
    );
    const outcomes: ProbeOutcome[] = answers.map(answerOutcome);
    progress(`${mode.name}: probed ${pairs.length} pairs (deadline ${probing.deadlineMs} ms)`);
    lap('probe');
    const order = lab.capturePoints.map((c) => c.segment);
    const inOrder = captures.splice(0).sort((x, y) => order.indexOf(x.point.segment) - order.indexOf(y.point.segment));
    const stopped = await endRound(inOrder, prober, opts.captureWaitMs);
    lap('captureStop');
    const { tally, stats: read } = await decodeCaptures(stopped, lab, runTag, opts.captureWaitMs);
    stats.push(...read);
    lap('decode');
    results = judgePairs(lab, mode, pairs, outcomes, tally, stopped, stats);
  } finally {
    await Promise.all([...captures.map((c) => c.cap.stop().catch(() => undefined)), prober.close()]);
  }
  const mtuProbes = opts.mtuProbe ? await probePodMtu(lab, mode) : undefined;
  if (mtuProbes) lap('mtuProbe');
  const mtuSearch = opts.mtuSearch ? await searchMtu(lab, mode) : undefined;
  if (opts.mtuSearch) lap('mtuSearch');
  const { passed, reason } = verdictOf(mode, results, mtuProbes);
  return {
    mode: mode.name,
    family: mode.family,
    backend: lab.backend,
    status: passed ? 'passed' : 'failed',
    ...(reason ? { reason } : {}),
    pairs: results,
    captures: stats.map((c) => relative(opts.outDir, fileOf(c.segment))),
    captureStats: stats,
    phases,
    probing,
    ...(mtuProbes ? { mtuProbes } : {}),
    ...(mtuSearch ? { mtuSearch } : {}),
    ...lab.daemonReport?.(),
  };
}

type Stopped = { point: CapturePoint; f: StoppedCapture; unsent?: string };

/** Every stopped capture read through the decoder into one tally; a file shorter than tcpdump counted is an error. */
async function decodeCaptures(
  stopped: Stopped[],
  lab: LabView,
  runTag: number,
  captureWaitMs: number | undefined,
): Promise<{ tally: WireTally; stats: CaptureStat[] }> {
  const stats: CaptureStat[] = [];
  const tally = new WireTally(runTag);
  const vxlanPorts = new Set([...DEFAULT_VXLAN_PORTS, ...vxlanPortsOf(lab.settings)]);
  // flannel's udp backend on a configured Port is a tunnel there too.
  const udp = lab.settings.flannel.udpPort;
  const udpTunnelPorts = new Set([...DEFAULT_UDP_TUNNEL_PORTS, ...(udp ? [udp] : [])]);
  for (const { point, f, unsent } of stopped) {
    let read = 0;
    let broken: string | undefined;
    try {
      read = await forEachPacket(f.file, (raw) => {
        const d = decode(raw, { vxlanPorts, udpTunnelPorts });
        if (d) tally.add(d);
      });
    } catch (e) {
      if (!(e instanceof PcapFormatError)) throw e;
      broken = e.message;
    }
    if (broken || (f.packets !== undefined && read < f.packets)) throw incompleteCapture(f.file, read, f.packets, broken);
    stats.push(captureStat(point, f, read, unsent, captureWaitMs ?? END_WAIT_MS));
  }
  return { tally, stats };
}

/** Each pair against what the mode must do; only on whole captures of the segments its nodes are on. */
function judgePairs(
  lab: LabView,
  mode: ModeDef,
  pairs: { src: PodRuntime; dst: PodRuntime }[],
  outcomes: ProbeOutcome[],
  tally: WireTally,
  stopped: Stopped[],
  stats: CaptureStat[],
): PairResult[] {
  const t = lab.topology;
  const nodeOf = new Map(t.nodes.map((n) => [n.name, n]));
  // A pair is judged only on whole captures of the segments its nodes are on.
  const gapOf = (node: string) => stats.find((c, k) => c.incomplete && stopped[k]!.point.nodes.includes(node))?.incomplete;
  return pairs.map((p, i) => {
    const a = nodeOf.get(p.src.node)!;
    const b = nodeOf.get(p.dst.node)!;
    const path = pathBetween(a, b);
    return pairResult(
      p.src.id,
      p.dst.id,
      path,
      mode.expect(a, b, path, { topology: t, settings: lab.settings }),
      outcomes[i]!,
      tally.get(i),
      gapOf(p.src.node) ?? gapOf(p.dst.node),
    );
  });
}

/** Passed only when every pair and every DF probe did what the mode must; the reason says what did not. */
function verdictOf(mode: ModeDef, results: PairResult[], mtuProbes: RunResult['mtuProbes']): { passed: boolean; reason?: string } {
  const badMtu = mtuProbes?.filter((m) => !m.ok) ?? [];
  const failed = results.filter((r) => !r.ok).length;
  const errors = results.filter((r) => r.error);
  const why = [
    failed - errors.length ? `${failed - errors.length} of ${results.length} pairs did not behave as ${mode.name} must` : '',
    errors.length ? `${errors.length} pairs were not judged (${errors[0]!.error})` : '',
    ...badMtu.map((m) =>
      m.error
        ? `the DF probe on ${m.path} did not run (${m.error})`
        : `a DF packet of ${m.podMtu} bytes on ${m.path} ${m.observed === 'passes' ? 'passed' : 'was dropped'}; ` +
          `the path carries ${m.pathMtu}`,
    ),
  ].filter(Boolean);
  const passed = failed === 0 && badMtu.length === 0;
  return passed ? { passed } : { passed, reason: why.join('; ') };
}

/**
 * Ends the round on every capture: a marker frame out of each captured interface (out of lo where
 * the capture is "any": seen there, it touches no wire), then each tcpdump is stopped once its file
 * holds the marker, or after waitMs.
 */
async function endRound(captures: { point: CapturePoint; cap: RunningCapture }[], prober: Prober, waitMs?: number): Promise<Stopped[]> {
  const end = endMarker();
  const unsent = await prober.mark(
    captures.map(({ point }) => ({ from: point.exec, iface: point.iface === 'any' ? 'lo' : point.iface, payload: end })),
  );
  return Promise.all(
    captures.map(async ({ point, cap }, k) => {
      const why = unsent[k];
      const f = await cap.stop(why ? {} : { endMarker: end, ...(waitMs !== undefined ? { waitMs } : {}) });
      return { point, f, ...(why ? { unsent: why } : {}) };
    }),
  );
}

/** A capture as results.json keeps it, with the reason it cannot judge when it cannot. */
function captureStat(point: CapturePoint, f: StoppedCapture, written: number, unsent: string | undefined, waitMs: number): CaptureStat {
  const counted =
    f.packets === undefined ? 'tcpdump printed no counts' : `tcpdump counted ${f.packets}, ${f.dropped ?? 0} dropped by the kernel`;
  const incomplete = unsent
    ? `the end-of-round marker was not sent (${unsent})`
    : !f.sawEnd
      ? `its end-of-round marker did not reach the file within ${waitMs} ms (the file holds ${written} packets; ${counted})`
      : f.dropped
        ? `the kernel dropped ${f.dropped} of its packets (tcpdump captured ${f.packets ?? '?'})`
        : undefined;
  return {
    segment: point.segment,
    ...(f.packets !== undefined ? { captured: f.packets } : {}),
    ...(f.dropped !== undefined ? { droppedByKernel: f.dropped } : {}),
    written,
    sawEnd: f.sawEnd === true,
    ...(incomplete ? { incomplete: `capture incomplete on segment ${point.segment}: ${incomplete}` } : {}),
  };
}

/** A capture file holding less than tcpdump captured: an error for every pair, with the likely cause. */
function incompleteCapture(file: string, read: number, captured: number | undefined, broken: string | undefined): CaptureError {
  let full = false;
  try {
    full = statfsSync(dirname(file)).bavail === 0;
  } catch {
    /* the folder is gone: said as incomplete */
  }
  const held = broken
    ? `ends inside a packet (${broken})`
    : `holds ${read}${captured === undefined ? '' : ` of the ${captured}`} packets tcpdump captured`;
  return new CaptureError(
    `the capture file ${file} ${held}${full ? ': no space left on the device (ENOSPC)' : ''}; no pair of this mode was judged`,
  );
}
