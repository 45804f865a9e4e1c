// Number formatting shared by the reports.

export const fin = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);
export const fmt = (x: number | null | undefined, d = 2) => (fin(x) ? x.toFixed(d) : '–');
export const pm = (s: { mean: number; ci95: number | null } | undefined, d = 2) => (s ? `${fmt(s.mean, d)} ± ${fin(s.ci95) ? s.ci95.toFixed(d) : '?'}` : '–');
export const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** What the widely cited figures say for a mode, to set against what this run measured. */
export function citedCost(mode: string): { text: string; lo: number; hi: number } {
  // The headline path is same-subnet, which DirectRouting and CrossSubnet carry unencapsulated.
  if (/crosssubnet|directrouting/.test(mode)) return { text: 'no encapsulation on one subnet (host-gw-like): ~10%', lo: 0.05, hi: 0.15 };
  if (/vxlan/.test(mode)) return { text: 'VXLAN-based: 20–30%', lo: 0.2, hi: 0.3 };
  if (/ipip/.test(mode)) return { text: 'IPIP: ~10–20%', lo: 0.1, hi: 0.2 };
  return { text: 'host-gw / BGP, no encapsulation: ~10%', lo: 0.05, hi: 0.15 };
}
