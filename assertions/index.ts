// Assertions for people writing their own tests against a lab: each failure message says which
// pair, what the mode must do and what the wire showed.
import { AssertionError } from 'node:assert';
import type { EncapKind, PairResult, RunResult, WireExpectation } from '../harness/results/schema.ts';

function describe(p: PairResult): string {
  if (p.error) return `${p.src} -> ${p.dst} (${p.path}): the probe did not run: ${p.error}`;
  const o = p.observed;
  const enc = o.encap === 'vxlan' ? `vxlan(vni ${o.vni}, port ${o.port})` : o.encap;
  return (
    `${p.src} -> ${p.dst} (${p.path}): ${o.reachable ? 'reachable' : 'unreachable'}, ${enc} on the ` +
    `wire${o.wirePackets !== undefined ? `, ${o.wirePackets} packets captured` : ''}`
  );
}

export function findPair(run: RunResult, src: string, dst: string): PairResult {
  const p = run.pairs.find((x) => x.src === src && x.dst === dst);
  if (!p)
    throw new AssertionError({
      message: `no probe ${src} -> ${dst} in run ${run.mode}; pairs: ${run.pairs
        .map((x) => `${x.src}->${x.dst}`)
        .slice(0, 8)
        .join(', ')}...`,
    });
  return p;
}

/** Every pair behaved as the mode must; the message lists each that did not. */
export function assertRunPassed(run: RunResult): void {
  if (run.status === 'skipped') throw new AssertionError({ message: `${run.mode} was skipped: ${run.reason}` });
  const bad = run.pairs.filter((p) => !p.ok);
  if (bad.length || run.status !== 'passed') {
    throw new AssertionError({
      message:
        `${run.mode} on ${run.backend}: ${bad.length} of ${run.pairs.length} pairs ` +
        `wrong${run.reason ? ` (${run.reason})` : ''}\n${bad.map((p) => `  ${describe(p)}: ${p.mismatch}`).join('\n')}`,
    });
  }
}

/** One pair showed this on the wire. Fields left out are not checked. */
export function assertWire(run: RunResult, src: string, dst: string, want: Partial<WireExpectation>): void {
  const p = findPair(run, src, dst);
  // A probe that did not run proves nothing, not even "unreachable".
  if (p.error) throw new AssertionError({ message: describe(p), operator: 'assertWire' });
  const o = p.observed;
  const wrong = (Object.keys(want) as (keyof WireExpectation)[]).filter((k) => want[k] !== o[k]);
  if (wrong.length)
    throw new AssertionError({
      message: `${describe(p)}; wanted ${JSON.stringify(want)}`,
      actual: o,
      expected: want,
      operator: 'assertWire',
    });
}

export function assertEncap(run: RunResult, src: string, dst: string, encap: EncapKind, extra: { vni?: number; port?: number } = {}): void {
  assertWire(run, src, dst, { reachable: true, encap, ...extra });
}

export function assertUnreachable(run: RunResult, src: string, dst: string): void {
  assertWire(run, src, dst, { reachable: false });
}

/** Every pair on a path kind showed the same thing, e.g. all cross-subnet pairs in VXLAN. */
export function assertPath(run: RunResult, path: PairResult['path'], want: Partial<WireExpectation>): void {
  const pairs = run.pairs.filter((p) => p.path === path);
  if (pairs.length === 0) throw new AssertionError({ message: `${run.mode}: no ${path} pairs in this topology` });
  for (const p of pairs) assertWire(run, p.src, p.dst, want);
}
