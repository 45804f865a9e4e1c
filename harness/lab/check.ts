// The wire check of one mode: capture every underlay segment, probe every ordered pod pair at
// once (each probe marks its packets), then judge each pair against what the mode must do.
import { mkdirSync } from 'node:fs';
import { relative } from 'node:path';
import pLimit from 'p-limit';
import { decode, DEFAULT_VXLAN_PORTS } from '../capture/decode.ts';
import { forEachPacket } from '../capture/pcap-reader.ts';
import { startCapture, type RunningCapture } from '../capture/tcpdump.ts';
import type { ModeDef } from '../modes/mode.ts';
import { WireTally } from '../oracle/classify.ts';
import { pairResult } from '../oracle/verdict.ts';
import { ping, probeMarker } from '../probe/ping.ts';
import type { PairResult, RunResult } from '../results/schema.ts';
import { pathBetween } from '../topology/types.ts';
import type { Lab, Progress } from './lab.ts';

export interface CheckOptions {
  outDir: string;
  progress?: Progress;
  concurrency?: number;
  /** Ping count per pair. */
  count?: number;
}

export async function checkMode(lab: Lab, mode: ModeDef, opts: CheckOptions): Promise<RunResult> {
  const progress = opts.progress ?? (() => {});
  const t = lab.topology;
  const pcapDir = `${opts.outDir}/pcaps/${mode.name}`;
  mkdirSync(pcapDir, { recursive: true });
  const runTag = Math.floor(Math.random() * 256);

  const pods = lab.state.pods;
  const nodeOf = new Map(t.nodes.map((n) => [n.name, n]));
  const pairs = pods.flatMap((src) => pods.filter((dst) => dst.id !== src.id).map((dst) => ({ src, dst })));

  const captures: RunningCapture[] = [];
  let results: PairResult[];
  let dropped = 0;
  try {
    for (const s of t.subnets) {
      // Every port of the segment's switch ("any" in its namespace): a capture on the bridge device
      // itself only sees frames the bridge floods or delivers locally, not what it switches.
      captures.push(await startCapture({ netns: lab.names.switch(s), iface: 'any', file: `${pcapDir}/underlay-${s.name}.pcap` }));
    }
    const limit = pLimit(opts.concurrency ?? 16);
    let done = 0;
    const outcomes = await Promise.all(
      pairs.map((p, i) =>
        limit(async () => {
          const r = await ping(p.src.netns, p.dst.ip, probeMarker(runTag, i), { count: opts.count ?? 3 });
          done++;
          if (done % 10 === 0 || done === pairs.length) progress(`${mode.name}: probed ${done}/${pairs.length} pairs`);
          return { reachable: r.received > 0, ...(r.rttMs !== undefined ? { rttMs: r.rttMs } : {}) };
        }),
      ),
    );
    const files = await Promise.all(captures.splice(0).map((c) => c.stop()));
    dropped = files.reduce((a, f) => a + (f.dropped ?? 0), 0);
    const tally = new WireTally(runTag);
    const vxlanPorts = new Set([...DEFAULT_VXLAN_PORTS, lab.state.settings.flannel.port, lab.state.settings.calico.vxlanPort]);
    for (const f of files) {
      await forEachPacket(f.file, (raw) => {
        const d = decode(raw, { vxlanPorts });
        if (d) tally.add(d);
      });
    }
    results = pairs.map((p, i) => {
      const a = nodeOf.get(p.src.node)!;
      const b = nodeOf.get(p.dst.node)!;
      const path = pathBetween(a, b);
      return pairResult(p.src.id, p.dst.id, path, mode.expect(a, b, path, { topology: t, settings: lab.state.settings }), outcomes[i]!, tally.get(i));
    });
  } finally {
    await Promise.all(captures.map((c) => c.stop().catch(() => undefined)));
  }
  const failed = results.filter((r) => !r.ok).length;
  return {
    mode: mode.name,
    backend: 'netns',
    status: failed === 0 ? 'passed' : 'failed',
    // A capture that dropped packets cannot prove an absence: say so next to any failure it may explain.
    ...(failed ? { reason: `${failed} of ${results.length} pairs did not behave as ${mode.name} must${dropped ? ` (the captures dropped ${dropped} packets)` : ''}` } : {}),
    pairs: results,
    captures: t.subnets.map((s) => relative(opts.outDir, `${pcapDir}/underlay-${s.name}.pcap`)),
  };
}
