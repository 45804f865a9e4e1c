// The kind provider, where Docker runs (the GitHub workflow's kind job): a kind cluster from the
// topology, the manifest applied through the same code as the lab's own API server, flannel's own
// images rolled out, probe pods on every node, captures inside the node containers, the same oracle.
// Here (no Docker engine) every test is skipped with the reason.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assertPath, assertRunPassed } from '../assertions/index.ts';
import { kindTools } from '../harness/backends/kind/docker.ts';
import type { ResultsFile } from '../harness/results/schema.ts';
import { ROOT, ROOT_SKIP, runCli, tmpOut, uniqueLab } from './helpers.ts';

const tools = await kindTools();
const SKIP = ROOT_SKIP || (!tools.ok && `kind cannot run here: ${tools.detail}`) || false;
const MANIFEST = `${ROOT}/test/fixtures/kube/kube-flannel.yml`;

describe('kind', { skip: SKIP }, () => {
  test('run --backend kind --manifest: vxlan as applied, host-gw through its ConfigMap, judged on the wire; cluster deleted', async () => {
    const name = uniqueLab('kd');
    const out = tmpOut();
    const r = await runCli([
      'run',
      '--backend',
      'kind',
      '--manifest',
      MANIFEST,
      '--topology',
      `${ROOT}/topologies/one-subnet.yaml`,
      '--modes',
      'flanneld-host-gw',
      '--name',
      name,
      '--out',
      out,
      '--count',
      '2',
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr.slice(-3000));
    const res = JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile;
    const [vx, hg] = res.runs as [ResultsFile['runs'][number], ResultsFile['runs'][number]];
    assert.deepEqual(
      res.runs.map((x) => [x.mode, x.backend]),
      [
        ['flanneld-vxlan', 'kind'],
        ['flanneld-host-gw', 'kind'],
      ],
    );
    assertRunPassed(vx);
    assertRunPassed(hg);
    assertPath(vx, 'same-subnet', { reachable: true, encap: 'vxlan', vni: 1, port: 8472 });
    assertPath(hg, 'same-subnet', { reachable: true, encap: 'none' });
    assert.equal(hg.daemonFacts?.kube?.netConf.patched, true);
    const left = await runCli(['gc']);
    assert.equal(left.code, 0);
    assert.doesNotMatch(left.stdout, new RegExp(`cnilab-${name}`), 'the run deleted its own cluster');
  });
});
