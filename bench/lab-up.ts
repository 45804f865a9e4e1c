// Lab build and teardown time by size: `npx tsx bench/lab-up.ts [--sizes 3,10,20,50] [--reps 3] [--mode M]`.
// Nodes are split over two subnets behind a router, 2 pods each, flannel-vxlan (the mode with the
// most per-peer state: route + neighbour + FDB entry for every other node).
import { parseArgs } from 'node:util';
import { Lab } from '../harness/backends/netns/lab.ts';
import { getMode } from '../harness/modes/registry.ts';
import { median, twoSubnets } from './shape.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '3,10,20,50' },
    reps: { type: 'string', default: '3' },
    mode: { type: 'string', default: 'flannel-vxlan' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const reps = Number(values.reps);
const mode = getMode(values.mode);

const rows: string[] = [];
for (const n of sizes) {
  const t = twoSubnets(`bench${n}`, n);
  const ups: number[] = [];
  const downs: number[] = [];
  let namespaces = 0;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const lab = await Lab.up(t, mode, { name: `bench${n}r${r}` });
    ups.push(performance.now() - t0);
    namespaces = lab.state.netns.length;
    const t1 = performance.now();
    await lab.down();
    downs.push(performance.now() - t1);
  }
  rows.push(
    `| ${n} | ${n * 2} | ${namespaces} | ${Math.round(median(ups))} | ${Math.round(Math.min(...ups))} | ${Math.round(median(downs))} |`,
  );
  console.error(`${n} nodes: up ${ups.map(Math.round).join(', ')} ms; down ${downs.map(Math.round).join(', ')} ms`);
}
console.log(`\nLab up/down, ${mode.name}, 2 pods per node, median of ${reps} (ms)\n`);
console.log('| nodes | pods | namespaces | up (median) | up (best) | down (median) |\n|---|---|---|---|---|---|');
console.log(rows.join('\n'));
