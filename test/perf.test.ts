// A short real measurement: few samples, so nothing here asserts a timing; it asserts that every
// number the report needs was measured and that MTU is what the modes must set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { validateResults } from '../harness/report/validate.ts';
import type { ResultsFile } from '../harness/results/schema.ts';
import { netnsOf, ROOT_SKIP, runCli, uniqueLab } from './helpers.ts';

test('run --perf measures every mode against the underlay and writes the reports', { skip: ROOT_SKIP, timeout: 300_000 }, async () => {
  const out = mkdtempSync(`${tmpdir()}/cnilab-perf-`);
  const name = uniqueLab('pf');
  try {
    const r = await runCli([
      'run',
      '--perf',
      '--rounds',
      '2',
      '--seconds',
      '1',
      '--streams',
      '2',
      '--rtt-count',
      '20',
      // Two rounds take longer than this: the stopping rule ends it at the minimum, on the budget.
      '--budget',
      '10',
      '--count',
      '1',
      '--modes',
      'flannel-host-gw,flannel-vxlan,calico-vxlan-always',
      '--name',
      name,
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    const raw = JSON.parse(readFileSync(`${out}/results.json`, 'utf8'));
    assert.equal(validateResults(raw).ok, true);
    const res = raw as ResultsFile;
    assert.equal(res.underlay?.throughputGbps?.samples.length, 2, 'underlay measured once per round');
    assert.equal(res.underlay?.order?.length, 2);
    assert.deepEqual([res.underlay?.stop?.why, res.underlay?.stop?.rounds], ['budget', 2]);
    assert.equal(res.underlay?.pinned, true, 'two CPUs here: sender and receiver pinned apart');
    for (const run of res.runs) {
      const p = run.perf!;
      assert.ok(p, `${run.mode} has perf`);
      assert.equal(p.throughputGbps?.samples.length, 2, run.mode);
      assert.ok(p.throughputGbps!.mean > 0);
      assert.ok(p.ratioToUnderlay && p.ratioToUnderlay.mean > 0, run.mode);
      // CPU cost per GB from iperf3's own accounting, with an interval, and its ratio to the underlay's.
      assert.equal(p.cpuPerGB?.samples.length, 2, run.mode);
      assert.ok(p.cpuPerGB!.mean > 0 && p.cpuRatioToUnderlay!.mean > 0, run.mode);
      assert.equal(p.ratioScope, 'host');
      assert.ok(p.rttUs!.p50 >= 0);
      assert.ok(p.rttUs && p.rttUs.p50 > 0 && p.rttUs.p50 <= p.rttUs.p99);
      const want = run.mode === 'flannel-host-gw' ? 1500 : 1450;
      assert.deepEqual([p.mtu?.expected, p.mtu?.observed, p.mtu?.maxDfPayload], [want, want, want - 28], run.mode);
      assert.equal(p.mtu?.podMtuExceedsPath, false);
    }
    const hostgw = res.runs.find((x) => x.mode === 'flannel-host-gw')!;
    assert.equal(hostgw.perf!.paths!.find((x) => x.path === 'cross-subnet')!.reachable, false, 'host-gw cross-subnet is not measured');
    const html = readFileSync(`${out}/report.html`, 'utf8');
    assert.equal((html.match(/<svg/g) ?? []).length, 4);
    const md = readFileSync(`${out}/report.md`, 'utf8');
    assert.match(md, /Against the widely cited figures/);
    assert.match(md, /\*\*Precision\.\*\* .* It stopped after 2 rounds in \d+ s \(budget spent\)/);
    assert.match(md, /\| (consistent|differs|inconclusive) \|/);
    assert.match(readFileSync(`${out}/junit.xml`, 'utf8'), /<testsuite name="flannel-vxlan@netns" tests="30" failures="0"/);
  } finally {
    rmSync(out, { recursive: true, force: true });
    assert.deepEqual(netnsOf(name), []);
  }
});
