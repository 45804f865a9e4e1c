// What conform says, in types: a value with its source, a finding with its rule and fix.

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
