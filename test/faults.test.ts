// Declared faults on underlay links, on a real lab: loss (netem, or an nftables drop), a link
// down, a delay (netem only: skipped with the reason where the kernel has none) and a router
// restart, each judged against its thresholds; then a threshold that must fail the run.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { kernelFeatures } from '../harness/host/doctor.ts';
import type { ResultsFile } from '../harness/results/schema.ts';
import { netnsOf, ROOT, ROOT_SKIP, runCli, tmpOut, uniqueLab } from './helpers.ts';

describe('faults on underlay links', { skip: ROOT_SKIP }, () => {
  test('the shipped example: loss kept, n3 lost, router back, delay per kernel; nothing left', { timeout: 300_000 }, async () => {
    const out = tmpOut();
    const name = uniqueLab('fa');
    const r = await runCli([
      'run',
      '--topology',
      `${ROOT}/topologies/two-subnets-faults.yaml`,
      '--modes',
      'flannel-vxlan',
      '--out',
      out,
      '--name',
      name,
    ]);
    const res = JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile;
    const f = Object.fromEntries((res.runs[0]!.faults ?? []).map((x) => [x.name, x]));
    assert.equal(f['lossy-n1']?.status, 'passed', JSON.stringify(f['lossy-n1']));
    assert.ok(f['lossy-n1']!.lossPercent > 0, 'the loss fault lost packets');
    assert.deepEqual(f['lossy-n1']!.lost, []);
    assert.equal(f['n3-down']?.status, 'passed', JSON.stringify(f['n3-down']));
    // Every pair to or from a pod on n3 is lost (n3 has 2 pods: 2 x 4 pods elsewhere x 2 directions = 16), no other.
    assert.equal(f['n3-down']!.lost.length, 16);
    assert.ok(f['n3-down']!.lost.every((p) => p.includes('n3/')));
    assert.equal(f['router-blip']?.status, 'passed', JSON.stringify(f['router-blip']));
    if ((await kernelFeatures()).netem.ok) {
      assert.equal(f['slow-n2']?.status, 'passed');
      assert.ok(f['slow-n2']!.rttMs.under! > f['slow-n2']!.rttMs.before! + 5, 'the delay shows in the RTT');
    } else {
      assert.equal(f['slow-n2']?.status, 'skipped');
      assert.match(f['slow-n2']!.reason!, /no netem/);
    }
    assert.equal(r.code, 0, r.stdout.slice(-2000) + r.stderr.slice(-2000));
    assert.match(readFileSync(`${out}/report.md`, 'utf8'), /\| flannel-vxlan \| n3-down \(down on n3\) \| passed \| 14 \| 16 \|/);
    assert.match(readFileSync(`${out}/junit.xml`, 'utf8'), /name="fault lossy-n1 \(loss on n1\)"/);
    assert.deepEqual(netnsOf(name), []);
  });

  test('a crossed threshold fails the run and names the fault', { timeout: 120_000 }, async () => {
    const dir = tmpOut('topo');
    const topo =
      readFileSync(`${ROOT}/topologies/two-subnets.yaml`, 'utf8') +
      '\nfaults:\n  - { name: cut, kind: down, link: n1, expect: { reachable: kept } }\n';
    writeFileSync(`${dir}/t.yaml`, topo);
    const out = tmpOut();
    const r = await runCli(['run', '--topology', `${dir}/t.yaml`, '--modes', 'calico-vxlan-always', '--out', out, '--count', '1']);
    assert.equal(r.code, 1);
    const run = (JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile).runs[0]!;
    assert.equal(run.status, 'failed');
    assert.match(run.reason!, /fault cut: 16 pairs stopped working/);
    // The fault was removed: every pair passed the wire check, before and after it.
    assert.ok(run.pairs.every((p) => p.ok));
  });
});
