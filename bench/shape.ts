// What the benchmarks share: the two-subnet shape they build (nodes split over two subnets behind a
// router, as the default lab is) and how they print a spread of samples.
import { parseTopology } from '../harness/topology/load.ts';
import type { Topology } from '../harness/topology/types.ts';

export function twoSubnets(name: string, nodes: number, podsPerNode = 2): Topology {
  const list = Array.from(
    { length: nodes },
    (_, i) => `  - { name: n${i + 1}, subnet: ${i < Math.ceil(nodes / 2) ? 'a' : 'b'}, pods: ${podsPerNode} }`,
  );
  const subnets = '  - { name: a, cidr: 172.31.10.0/24 }\n  - { name: b, cidr: 172.31.20.0/24 }';
  return parseTopology(`name: ${name}\nsubnets:\n${subnets}\nrouter: { name: r1 }\nnodes:\n${list.join('\n')}\n`);
}

export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** "min / median / max", each through `show`. */
export function spread(xs: readonly number[], show: (x: number) => string = String): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${show(s[0]!)} / ${show(median(s))} / ${show(s.at(-1)!)}`;
}
