// What conform says, in types: a value with its source, a finding with its rule and fix; and the
// checks both CNIs share.
import { type Cidr, contains, formatCidr, overlaps } from '../net/ipv4.ts';
import type { Topology } from '../topology/types.ts';

export interface Sourced<T> {
  value: T;
  /** "file:line", or where the default applies. */
  at: string;
  /** The CNI's own default: nothing in the inputs set it. */
  default?: true;
}

export interface Finding {
  /** Stable, for CI filters: "host-gw-across-subnets", "vni-range", ... */
  rule: string;
  severity: 'error' | 'warning';
  at: string;
  message: string;
  fix: string;
}

/** The known word within edit distance 3 (or equal ignoring case), for "did you mean". */
export function closest(word: string, known: readonly string[]): string | undefined {
  const d = (a: string, b: string) => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0]!;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const cur = row[j]!;
        row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = cur;
      }
    }
    return row[b.length]!;
  };
  let best: { w: string; d: number } | undefined;
  for (const k of known) {
    const dist = d(word.toLowerCase(), k.toLowerCase());
    if (dist <= 3 && (!best || dist < best.d)) best = { w: k, d: dist };
  }
  return best?.w;
}

export const inRange = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;

/** A pod CIDR over a node subnet or a node's address: pods would shadow the nodes. `what` names it ("Network 10.244.0.0/16"). */
export function podCidrOverlaps(pods: Cidr, what: string, at: string, t: Topology): Finding[] {
  const hit = t.subnets.filter((s) => overlaps(pods, s.cidr));
  const finding = (message: string): Finding => ({
    rule: 'pod-cidr-overlaps-nodes',
    severity: 'error',
    at,
    message,
    fix: `pick a pod CIDR apart from every node subnet and node address (or a --topology whose nodes are elsewhere)`,
  });
  // The subnets are the lab's topology's (the user's own only when --topology named it): said so.
  const lab = `the lab's topology ${t.name}`;
  if (hit.length) return hit.map((s) => finding(`${what} overlaps subnet ${s.name} (${formatCidr(s.cidr)}) of ${lab}`));
  return t.nodes.filter((n) => contains(pods, n.ip)).map((n) => finding(`${what} holds node ${n.name}'s address in ${lab}`));
}
