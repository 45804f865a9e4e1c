// The wire check of one mode: warm up (neighbours resolved, the underlay's RTT sets the reply
// deadline), capture every underlay segment, probe every ordered pod pair at once through one
// prober process (each probe marks its packets), then judge each pair against what the mode must do.
// Works on any LabView: the nodes are reached through their executors.
import { mkdirSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { relative } from 'node:path';
import type { CheckRequest, LabView } from '../backends/backend.ts';
import { decode, DEFAULT_UDP_TUNNEL_PORTS, DEFAULT_VXLAN_PORTS } from '../capture/decode.ts';
import { forEachPacket, PcapFormatError } from '../capture/pcap-reader.ts';
import { CaptureError, startCapture, type RunningCapture } from '../capture/tcpdump.ts';
import type { ModeDef } from '../modes/mode.ts';
import { vxlanPortsOf } from '../modes/registry.ts';
import { WireTally } from '../oracle/classify.ts';
import { pairResult, type ProbeOutcome } from '../oracle/verdict.ts';
import { probeMarker } from '../probe/marker.ts';
import { answerOutcome, markerPayload, startProber } from '../probe/prober.ts';
import type { PairResult, Probing, RunResult } from '../results/schema.ts';
import { labNames } from '../plan/names.ts';
import { pathBetween } from '../topology/types.ts';
import { probePodMtu } from './mtu-probe.ts';
import { searchMtu } from './mtu-search.ts';
import { warmUp } from './warmup.ts';

export async function checkMode(lab: LabView, mode: ModeDef, opts: CheckRequest): Promise<RunResult> {
  const progress = opts.progress ?? (() => {});
  const t = lab.topology;
  const pcapDir = `${opts.outDir}/pcaps/${mode.name}`;
  mkdirSync(pcapDir, { recursive: true });
  const runTag = Math.floor(Math.random() * 256);

  const pods = lab.pods;
  const nodeOf = new Map(t.nodes.map((n) => [n.name, n]));
  const pairs = pods.flatMap((src) => pods.filter((dst) => dst.id !== src.id).map((dst) => ({ src, dst })));
  const fileOf = (segment: string) => `${pcapDir}/underlay-${segment}.pcap`;

  const captures: RunningCapture[] = [];
  let results: PairResult[];
  let dropped = 0;
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
      lab.capturePoints.map(async (c) => captures.push(await startCapture({ exec: c.exec, iface: c.iface, file: fileOf(c.segment) }))),
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
    const files = await Promise.all(captures.splice(0).map((c) => c.stop()));
    lap('captureStop');
    dropped = files.reduce((a, f) => a + (f.dropped ?? 0), 0);
    const tally = new WireTally(runTag);
    const vxlanPorts = new Set([...DEFAULT_VXLAN_PORTS, ...vxlanPortsOf(lab.settings)]);
    // flannel's udp backend on a configured Port is a tunnel there too.
    const udp = lab.settings.flannel.udpPort;
    const udpTunnelPorts = new Set([...DEFAULT_UDP_TUNNEL_PORTS, ...(udp ? [udp] : [])]);
    for (const f of files) {
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
    }
    lap('decode');
    results = pairs.map((p, i) => {
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
      );
    });
  } finally {
    await Promise.all([...captures.map((c) => c.stop().catch(() => undefined)), prober.close()]);
  }
  const mtuProbes = opts.mtuProbe ? await probePodMtu(lab, mode) : undefined;
  if (mtuProbes) lap('mtuProbe');
  const mtuSearch = opts.mtuSearch ? await searchMtu(lab, mode) : undefined;
  if (opts.mtuSearch) lap('mtuSearch');
  const badMtu = mtuProbes?.filter((m) => !m.ok) ?? [];
  const failed = results.filter((r) => !r.ok).length;
  const errors = results.filter((r) => r.error);
  const why = [
    failed - errors.length ? `${failed - errors.length} of ${results.length} pairs did not behave as ${mode.name} must` : '',
    errors.length ? `${errors.length} probes did not run (${errors[0]!.error})` : '',
    ...badMtu.map((m) =>
      m.error
        ? `the DF probe on ${m.path} did not run (${m.error})`
        : `a DF packet of ${m.podMtu} bytes on ${m.path} ${m.observed === 'passes' ? 'passed' : 'was dropped'}; ` +
          `the path carries ${m.pathMtu}`,
    ),
  ].filter(Boolean);
  return {
    mode: mode.name,
    family: mode.family,
    backend: lab.backend,
    status: failed === 0 && badMtu.length === 0 ? 'passed' : 'failed',
    // A capture that dropped packets cannot prove an absence: say so next to any failure it may explain.
    ...(failed || badMtu.length ? { reason: `${why.join('; ')}${dropped ? ` (the captures dropped ${dropped} packets)` : ''}` } : {}),
    pairs: results,
    captures: lab.capturePoints.map((c) => relative(opts.outDir, fileOf(c.segment))),
    phases,
    probing,
    ...(mtuProbes ? { mtuProbes } : {}),
    ...(mtuSearch ? { mtuSearch } : {}),
    ...lab.daemonReport?.(),
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
