// The IPIP pair (Always and CrossSubnet, each checked on the wire) in a guest, end to end through
// runModes, as `cnilab run` does it: `npx tsx bench/guest-ipip.ts [--reps 3] [--backend qemu|uml] [--all]`.
// --all runs every mode instead, the host's on this kernel while the guest works; with
// --backend qemu it makes UML unavailable (the stand-in of test/fixtures) so IPIP goes to qemu.
// The guest's boot probe is cached before the first repetition, as on any machine after its first run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { allModes, loadTopology, parseModeList, runModes } from '../harness/index.ts';
import { placeModes } from '../harness/run/run-modes.ts';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'qemu' },
    all: { type: 'boolean', default: false },
  },
});
const backend = values.backend === 'uml' ? 'uml' : 'qemu';
if (values.all && backend === 'qemu') process.env.CNILAB_UML_KERNEL = new URL('../test/fixtures/uml-that-panics', import.meta.url).pathname;
const topology = await loadTopology(new URL('../topologies/two-subnets.yaml', import.meta.url).pathname);
const modes = values.all ? allModes() : parseModeList('calico-ipip-always,calico-ipip-crosssubnet');
await placeModes(modes, values.all ? 'auto' : backend);

const walls: number[] = [];
for (let i = 0; i < Number(values.reps); i++) {
  const out = mkdtempSync(`${tmpdir()}/cnilab-bench-guest-`);
  const t0 = performance.now();
  const { runs } = await runModes({ topology, modes, backend: values.all ? 'auto' : backend, outDir: out, count: 2 });
  const wall = performance.now() - t0;
  rmSync(out, { recursive: true, force: true });
  const bad = runs.filter((r) => r.status !== 'passed');
  if (bad.length) throw new Error(`not passed: ${bad.map((r) => `${r.mode} on ${r.backend}: ${r.reason}`).join('; ')}`);
  walls.push(wall);
  const ipip = runs.filter((r) => r.mode.startsWith('calico-ipip'));
  console.log(
    `rep ${i + 1}: ${(wall / 1000).toFixed(1)} s; ${ipip.map((r) => `${r.mode} on ${r.backend} ${JSON.stringify(r.phases)}`).join('; ')}`,
  );
}
const s = [...walls].sort((a, b) => a - b).map((x) => (x / 1000).toFixed(1));
console.log(
  `\n${values.all ? 'all eight modes' : 'IPIP Always + CrossSubnet'} (${values.all ? `IPIP in ${backend}` : backend}): min ${s[0]} / ` +
    `median ${s[Math.floor(s.length / 2)]} / max ${s.at(-1)} s`,
);
