// The README's library example, run as written so the README cannot drift from the code.
import { after, test } from 'node:test';
import { ROOT_SKIP } from './helpers.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Lab, checkMode, getMode, loadTopology, parseModeList, runModes } from '../harness/index.ts';
import { assertEncap, assertPath, assertRunPassed } from '../assertions/index.ts';

const outDir = mkdtempSync(`${tmpdir()}/cnilab-readme-`);
after(() => rmSync(outDir, { recursive: true, force: true }));

test('our cluster layout keeps cross-subnet pod traffic in VXLAN', { skip: ROOT_SKIP }, async () => {
  await using lab = await Lab.up(
    await loadTopology(new URL('../topologies/two-subnets.yaml', import.meta.url).pathname),
    getMode('flannel-vxlan-directrouting'),
  );
  const run = await checkMode(lab, lab.mode!, { outDir });
  assertRunPassed(run);
  assertPath(run, 'same-subnet', { encap: 'none' });
  assertEncap(run, 'n1/p1', 'n3/p2', 'vxlan', { vni: 1, port: 8472 });
  await lab.switchTo(getMode('calico-vxlan-crosssubnet'));
});

test('IPIP, wherever this host can run it (this kernel or a guest)', { skip: ROOT_SKIP, timeout: 300_000 }, async () => {
  const { runs } = await runModes({
    topology: await loadTopology(new URL('../topologies/two-subnets.yaml', import.meta.url).pathname),
    modes: parseModeList('calico-ipip-always'),
    outDir: `${outDir}/ipip`,
  });
  // Where no backend can run IPIP the mode is skipped: that must not pass quietly.
  assertRunPassed(runs[0]!);
  assertPath(runs[0]!, 'cross-subnet', { encap: 'ipip' });
});
