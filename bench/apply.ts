// Applying a large manifest to the lab's kube-apiserver: `npx tsx bench/apply.ts [--objects 5000] [--reps 2]`.
// A manifest lab (the fixture kube-flannel.yml) is brought up once; then N ConfigMaps are applied
// server-side, one at a time (as before) and 8 at a time (as run --manifest does now), alternating,
// each rep into a fresh namespace; seconds, min / median / max.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { Lab } from '../harness/backends/netns/lab.ts';
import { applyManifest, kubeApi, type ManifestObject } from '../harness/kube/client.ts';
import { getMode } from '../harness/modes/registry.ts';
import { loadTopology } from '../harness/topology/load.ts';
import { spread } from './shape.ts';

const { values } = parseArgs({ options: { objects: { type: 'string', default: '5000' }, reps: { type: 'string', default: '2' } } });
const n = Number(values.objects);
const fixture = new URL('../test/fixtures/kube/kube-flannel.yml', import.meta.url).pathname;
const objects: ManifestObject[] = parseAllDocuments(readFileSync(fixture, 'utf8')).map((d, i) => ({
  where: `kube-flannel.yml document ${i + 1}`,
  object: d.toJS(),
}));
const lab = await Lab.up(
  await loadTopology(new URL('../topologies/two-subnets.yaml', import.meta.url).pathname),
  getMode('flanneld-vxlan'),
  {
    name: 'benchapply',
    manifest: { files: [fixture], objects },
  },
);
const times: Record<string, number[]> = { '1 at a time': [], '8 at a time': [] };
try {
  const api = kubeApi(lab.state.kube!.kubeconfig);
  for (let r = 0; r < Number(values.reps); r++) {
    for (const [label, concurrency] of [
      ['1 at a time', 1],
      ['8 at a time', 8],
    ] as const) {
      const ns = `bench-${r}-${concurrency}`;
      const many: ManifestObject[] = [
        { where: 'ns', object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } },
        ...Array.from({ length: n }, (_, i) => ({
          where: `cm ${i}`,
          object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, namespace: ns }, data: { k: `v${i}` } },
        })),
      ];
      const t = performance.now();
      await applyManifest(api, many, () => {}, { concurrency });
      times[label]!.push((performance.now() - t) / 1000);
    }
  }
} finally {
  await lab.down();
}
console.log(`| ${n} ConfigMaps | seconds (min / median / max) |\n|---|---|`);
for (const [label, t] of Object.entries(times)) console.log(`| ${label} | ${spread(t, (x) => x.toFixed(1))} |`);
