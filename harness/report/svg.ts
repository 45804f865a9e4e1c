// A small dependency-free SVG chart: grouped horizontal bars with optional 95% CI whiskers and a
// reference line. vega-lite was considered (25 MB installed; its newest major needs Node 22): for
// four bar charts a ~100-line renderer is smaller, and the HTML stays self-contained.
import { escapeXml as x, fin } from './format.ts';

export interface Bar {
  series: string;
  value: number | undefined;
  ci?: number | null;
}
export interface Row {
  label: string;
  note?: string;
  bars: Bar[];
}
export interface ChartSpec {
  metric: string;
  unit: string;
  rows: Row[];
  series: { name: string; color: string }[];
  reference?: { value: number; label: string };
  digits?: number;
}

/** Round tick steps (1, 2, 5 x 10^k) giving about `count` ticks up to max. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = 0; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks.at(-1)! < max) ticks.push(Number((ticks.at(-1)! + step).toPrecision(12)));
  return ticks;
}

export function barChart(c: ChartSpec): string {
  const labelW = 230;
  const plotW = 520;
  const barH = 14;
  const gap = 10;
  const rowH = c.series.length * barH + gap;
  const top = 28;
  const height = top + c.rows.length * rowH + 44;
  const values = c.rows.flatMap((r) => r.bars.map((b) => (fin(b.value) ? b.value + (fin(b.ci) ? b.ci : 0) : 0)));
  const ticks = niceTicks(Math.max(...values, c.reference?.value ?? 0, 1e-9));
  const max = ticks.at(-1)!;
  const X = (v: number) => labelW + (v / max) * plotW;
  const d = c.digits ?? 2;
  const parts: string[] = [];
  for (const t of ticks) {
    parts.push(
      `<line x1="${X(t)}" y1="${top - 6}" x2="${X(t)}" y2="${height - 38}" class="grid"/><text x="${X(t)}" y="${height - 24}" ` +
        `class="tick">${t}</text>`,
    );
  }
  c.rows.forEach((r, i) => {
    const y0 = top + i * rowH;
    parts.push(`<text x="${labelW - 8}" y="${y0 + (c.series.length * barH) / 2 + 4}" class="label">${x(r.label)}</text>`);
    if (r.note) parts.push(`<text x="${labelW + 4}" y="${y0 + (c.series.length * barH) / 2 + 4}" class="note">${x(r.note)}</text>`);
    r.bars.forEach((b) => {
      const k = c.series.findIndex((s) => s.name === b.series);
      if (!fin(b.value) || k < 0) return;
      const y = y0 + k * barH;
      const color = c.series[k]!.color;
      const title = `${r.label} ${b.series}: ${b.value.toFixed(d)} ${c.unit}${fin(b.ci) ? ` ± ${b.ci.toFixed(d)}` : ''}`;
      parts.push(
        `<rect x="${labelW}" y="${y + 1}" width="${Math.max(0.5, X(b.value) - labelW)}" height="${barH - 2}" ` +
          `fill="${color}"><title>${x(title)}</title></rect>`,
      );
      if (fin(b.ci) && b.ci > 0) {
        const cy = y + barH / 2;
        parts.push(
          `<path d="M${X(Math.max(0, b.value - b.ci))} ${cy}H${X(b.value + b.ci)}M${X(Math.max(0, b.value - b.ci))} ` +
            `${cy - 4}v8M${X(b.value + b.ci)} ${cy - 4}v8" class="whisker"/>`,
        );
      }
      parts.push(`<text x="${X(b.value + (fin(b.ci) ? b.ci : 0)) + 4}" y="${y + barH - 3}" class="value">${b.value.toFixed(d)}</text>`);
    });
  });
  if (c.reference)
    parts.push(
      `<line x1="${X(c.reference.value)}" y1="${top - 10}" x2="${X(c.reference.value)}" y2="${height - 38}" class="ref"/><text ` +
        `x="${X(c.reference.value)}" y="${top - 14}" class="reflabel">${x(c.reference.label)}</text>`,
    );
  const legend =
    c.series.length > 1
      ? c.series
          .map(
            (s, i) =>
              `<rect x="${labelW + i * 130}" y="4" width="10" height="10" fill="${s.color}"/><text x="${labelW + 14 + i * 130}" ` +
              `y="13" class="legend">${x(s.name)}</text>`,
          )
          .join('')
      : '';
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" data-metric="${x(c.metric)}" viewBox="0 0 ${labelW + plotW + 70} ${height}" ` +
    `width="100%" role="img">${legend}${parts.join('')}<text x="${labelW + plotW / 2}" y="${height - 4}" ` +
    `class="axis">${x(c.unit)}</text></svg>`
  );
}
