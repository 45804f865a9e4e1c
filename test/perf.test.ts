// A short real measurement: few samples, so nothing here asserts a timing; it asserts that every
// number the report needs was measured and that MTU is what the modes must set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { validateResults } from '../harness/report/validate.ts';
import type { ResultsFile } from '../harness/results/schema.ts';
import { perfLabName } from '../harness/plan/names.ts';
import { cli, labProcesses, netnsOf, netnsStartingWith, ROOT_SKIP, runCli, tmpOut, uniqueLab, waitFor } from './helpers.ts';

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
    assert.equal(res.underlay?.throughputGbps?.samples.length, 4, 'underlay measured twice per round');
    assert.equal(res.underlay?.order?.length, 2);
    assert.equal(res.underlay?.order?.[0]?.filter((x) => x === 'underlay').length, 2);
    assert.equal(res.underlay?.labPerMode, true, 'every mode on a lab of its own: no switching inside the rounds');
    // Cycles per byte where perf stat counts cycles; elsewhere the reason, said in the report.
    const cyc = res.underlay?.cycles;
    assert.ok(cyc, 'cycles: counted or why not');
    if (cyc.counted) assert.ok(res.runs.every((x) => (x.perf?.paths?.[0]?.cyclesPerByte?.mean ?? 0) > 0));
    else assert.match(cyc.why, /perf stat/);
    assert.deepEqual([res.underlay?.stop?.why, res.underlay?.stop?.rounds], ['budget', 2]);
    // Which is faster, pair by pair: decided, or undecided with the rounds it would need (the budget ran out).
    const pairs = res.underlay?.stop?.pairs ?? [];
    assert.deepEqual(
      pairs.map((p) => `${p.a} vs ${p.b}`),
      ['flannel-host-gw vs flannel-vxlan', 'flannel-host-gw vs calico-vxlan-always', 'flannel-vxlan vs calico-vxlan-always'],
    );
    for (const p of pairs) {
      assert.equal(p.rounds, 2);
      assert.ok(p.verdict !== 'undecided' || p.needed === null || (p.needed ?? 0) > 2, JSON.stringify(p));
    }
    assert.match(r.stdout, /flannel-host-gw vs flannel-vxlan: (faster|slower|equivalent|undecided)/);
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
    assert.match(md, /Cycles per byte: /);
    assert.match(md, /\*\*Schedule\.\*\* The 10 s budget counts from the start of the run/);
    assert.match(md, /\*\*Precision\.\*\* .* It stopped after 2 rounds in \d+ s \(budget spent\)/);
    assert.match(md, /\| (consistent|differs|inconclusive) \|/);
    assert.match(
      md,
      /### Which mode is faster\?\n\n\| throughput, row vs column \| flannel-host-gw \| flannel-vxlan \| calico-vxlan-always \|/,
    );
    assert.match(readFileSync(`${out}/junit.xml`, 'utf8'), /<testsuite name="flannel-vxlan@netns" tests="30" failures="0"/);
  } finally {
    rmSync(out, { recursive: true, force: true });
    assert.deepEqual(netnsOf(name), []);
    // The labs built for the rounds, one per mode, go down with the run.
    assert.deepEqual(netnsStartingWith(`cnilab-${perfLabName(name, 0).slice(0, -2)}`), []);
  }
});

test('Ctrl-C in the rounds, and gc after a SIGKILL: the labs built for them go too', { skip: ROOT_SKIP, timeout: 300_000 }, async () => {
  // Every lab of the run: its own and the ones built for the rounds (named from its first 9 characters).
  const leftOf = (name: string) => [
    ...netnsStartingWith(`cnilab-${name}`),
    ...[0, 1].flatMap((i) => labProcesses(perfLabName(name, i))),
    ...labProcesses(name),
  ];
  const perfLabsUp = (name: string) => labProcesses(perfLabName(name, 1)).some((l) => /flanneld/.test(l));
  const args = (name: string) => ['run', '--perf', '--budget', '120', '--count', '1', '--name', name, '--out', tmpOut()];
  const modes = ['--modes', 'flannel-host-gw,flanneld-vxlan'];

  const name = uniqueLab('pi');
  const p = cli([...args(name), ...modes]);
  const exited = new Promise((r) => p.on('exit', (c) => r(c)));
  await waitFor('the perf labs (flanneld in the second)', () => perfLabsUp(name), 60_000);
  p.kill('SIGINT');
  assert.equal(await exited, 130);
  assert.deepEqual(leftOf(name), []);

  const victim = uniqueLab('pk');
  const k = cli([...args(victim), ...modes]);
  const gone = new Promise((r) => k.on('exit', r));
  await waitFor('the perf labs (flanneld in the second)', () => perfLabsUp(victim), 60_000);
  k.kill('SIGKILL');
  await gone;
  assert.ok(leftOf(victim).length > 0, 'a SIGKILLed run leaves its perf labs');
  const gc = await runCli(['gc']);
  assert.equal(gc.code, 0, gc.stderr);
  assert.deepEqual(leftOf(victim), []);
});
