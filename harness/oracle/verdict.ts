// Compares what a pair showed with what its mode must show. Pure: the oracle of every run.
import type { PathKind, PairResult, WireExpectation, WireObservation } from '../results/schema.ts';
import type { WireSeen } from './classify.ts';

/** What a probe answered: reachability when it ran, the reason when it did not (never a verdict). */
export type ProbeOutcome = { reachable: boolean; rttMs?: number } | { error: string };
type RanProbe = Extract<ProbeOutcome, { reachable: boolean }>;

/** What was observed: reachability from the probe, encapsulation from the capture. */
export function observe(path: PathKind, probe: RanProbe, wire: WireSeen): { observed: WireObservation; problems: string[] } {
  const problems: string[] = [];
  let observed: WireObservation = {
    reachable: probe.reachable,
    encap: 'none',
    ...(probe.rttMs !== undefined ? { rttMs: probe.rttMs } : {}),
  };
  if (wire.encaps.length > 1) {
    problems.push(
      `mixed encapsulation on the wire: ` +
        `${wire.encaps.map((e) => e.kind + (e.vni !== undefined ? `(vni ${e.vni}, port ${e.port})` : '')).join(', ')}`,
    );
  }
  const e = wire.encaps[0];
  if (e)
    observed = {
      ...observed,
      encap: e.kind,
      ...(e.vni !== undefined ? { vni: e.vni } : {}),
      ...(e.port !== undefined ? { port: e.port } : {}),
    };
  if (path !== 'same-node' && probe.reachable && wire.packets === 0) {
    problems.push(
      'reachable, yet none of its packets was seen on the underlay capture: the capture missed it or the traffic bypassed the underlay',
    );
  }
  if (path === 'same-node' && wire.packets > 0) problems.push(`same-node traffic left the node: ${wire.packets} packets on the underlay`);
  return { observed, problems };
}

export function judge(
  expected: WireExpectation,
  observed: WireObservation,
  problems: readonly string[],
): { ok: boolean; mismatch?: string } {
  const why: string[] = [...problems];
  if (expected.reachable !== observed.reachable)
    why.push(expected.reachable ? 'expected reachable, got no reply' : 'expected no reply, got a reply');
  if (expected.reachable && observed.reachable) {
    if (expected.encap !== observed.encap) why.push(`expected encap ${expected.encap}, saw ${observed.encap}`);
    else if (expected.encap === 'vxlan') {
      if (expected.vni !== observed.vni) why.push(`expected VNI ${expected.vni}, saw ${observed.vni}`);
      if (expected.port !== observed.port) why.push(`expected UDP port ${expected.port}, saw ${observed.port}`);
    } else if (expected.encap === 'udp' && expected.port !== observed.port) {
      why.push(`expected UDP port ${expected.port}, saw ${observed.port}`);
    }
  }
  return why.length === 0 ? { ok: true } : { ok: false, mismatch: why.join('; ') };
}

export function pairResult(
  src: string,
  dst: string,
  path: PathKind,
  expected: WireExpectation,
  probe: ProbeOutcome,
  wire: WireSeen,
  /** Why the captures this pair needs are not whole: the pair is then an error, never a verdict. */
  captureGap?: string,
): PairResult {
  const pair = { src, dst, path, expected };
  if ('error' in probe) {
    // The probe did not run: nothing was observed, and the pair fails as an error, not as a verdict.
    const observed = { reachable: false, encap: 'none' as const, wirePackets: wire.packets };
    return { ...pair, observed, ok: false, error: probe.error, mismatch: `probe did not run: ${probe.error}` };
  }
  const seen = observe(path, probe, wire);
  const observed = { ...seen.observed, wirePackets: wire.packets };
  // What the probe saw stands; what the wire carried is unknown, so nothing is judged.
  if (captureGap) return { ...pair, observed, ok: false, error: captureGap, mismatch: `not judged: ${captureGap}` };
  const v = judge(expected, seen.observed, seen.problems);
  return { ...pair, observed, ok: v.ok, ...(v.mismatch ? { mismatch: v.mismatch } : {}) };
}
