// Number formatting shared by the reports.

export const fin = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);
export const fmt = (x: number | null | undefined, d = 2) => (fin(x) ? x.toFixed(d) : '–');
export const pm = (s: { mean: number; ci95: number | null } | undefined, d = 2) =>
  s ? `${fmt(s.mean, d)} ± ${fin(s.ci95) ? s.ci95.toFixed(d) : '?'}` : '–';
export const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}
