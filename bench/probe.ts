// All-pairs probing by lab size: `npx tsx bench/probe.ts [--nodes 3,30] [--pods 2] [--reps 5] [--mode M]`.
// Nodes split over two subnets behind a router (as bench/lab-up.ts), every ordered pod pair probed
// through the whole wire check (warm-up, captures, the prober, decode); the check's own phase
// timings, min / median / max over the repetitions, and the CPU this process and its children used.
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Lab } from '../harness/backends/netns/lab.ts';
import { checkMode } from '../harness/check/index.ts';
import { getMode } from '../harness/modes/registry.ts';
import { spread, twoSubnets } from './shape.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3,30' },
    pods: { type: 'string', default: '2' },
    reps: { type: 'string', default: '5' },
    mode: { type: 'string', default: 'flannel-vxlan' },
  },
});
const mode = getMode(values.mode);
const reps = Number(values.reps);
const pods = Number(values.pods);

const rows: string[] = [];
for (const n of values.nodes.split(',').map(Number)) {
  const lab = await Lab.up(twoSubnets(`probe${n}`, n, pods), mode, { name: `probe${n}` });
  const out = `/tmp/cnilab-bench-probe-${process.pid}`;
  const times: Record<string, number[]> = { warmup: [], probe: [], decode: [], check: [], cpu: [] };
  let pairs = 0;
  try {
    for (let r = 0; r < reps; r++) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const res = await checkMode(lab, mode, { outDir: out });
      times.check!.push(Math.round(performance.now() - t0));
      const cpu = process.cpuUsage(cpu0);
      times.cpu!.push(Math.round((cpu.user + cpu.system) / 1000));
      for (const k of ['warmup', 'probe', 'decode'] as const) times[k]!.push(res.phases?.[k] ?? 0);
      pairs = res.pairs.length;
      if (res.status !== 'passed') console.error(`${n} nodes, rep ${r}: ${res.status}: ${res.reason}`);
    }
  } finally {
    await lab.down();
    rmSync(out, { recursive: true, force: true });
  }
  const cols = [times.warmup!, times.probe!, times.decode!, times.check!, times.cpu!].map((xs) => spread(xs));
  rows.push(`| ${n * pods} | ${pairs} | ${cols.join(' | ')} |`);
  console.error(`${n} nodes: ${JSON.stringify(times)}`);
}
console.log(`\nAll-pairs check, ${mode.name}, ${reps} repetitions, ms (min / median / max)\n`);
console.log('| pods | pairs | warm-up | probe | decode | whole check | node CPU |\n|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
