// The flannel modes, built for real and asserted on the wire.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { assertEncap, assertPath, assertRunPassed, assertUnreachable } from '../assertions/index.ts';
import { checkMode } from '../harness/check/index.ts';
import { Lab } from '../harness/backends/netns/lab.ts';
import { getMode } from '../harness/modes/registry.ts';
import { DEFAULT_SETTINGS } from '../harness/modes/mode.ts';
import { loadTopology } from '../harness/topology/load.ts';
import type { RunResult } from '../harness/results/schema.ts';
import type { NodeExecutor } from '../harness/node/executor.ts';
import { netnsOf, ROOT, ROOT_SKIP, tmpOut, uniqueLab, viewOf } from './helpers.ts';

describe('flannel modes on the two-subnets lab', { skip: ROOT_SKIP }, () => {
  const name = uniqueLab('fl');
  const out = tmpOut();
  let lab: Lab;
  const runs = new Map<string, RunResult>();

  before(async () => {
    lab = await Lab.up(await loadTopology(`${ROOT}/topologies/two-subnets.yaml`), getMode('flannel-host-gw'), { name });
  });
  after(async () => {
    await lab?.down();
    rmSync(out, { recursive: true, force: true });
    assert.deepEqual(netnsOf(name), [], 'namespaces left after down');
  });

  async function check(mode: string): Promise<RunResult> {
    if (lab.mode?.name !== mode) await lab.switchTo(getMode(mode));
    assert.deepEqual(await lab.staleState(), [], 'state left behind by the previous mode');
    const r = await checkMode(lab, getMode(mode), { outDir: out });
    runs.set(mode, r);
    return r;
  }

  test('host-gw: plain on one subnet, cross-subnet pairs fail', async () => {
    const r = await check('flannel-host-gw');
    assertRunPassed(r);
    assertEncap(r, 'n1/p1', 'n2/p1', 'none');
    assertUnreachable(r, 'n1/p1', 'n3/p1');
    assertUnreachable(r, 'n3/p2', 'n2/p2');
    assertPath(r, 'same-node', { reachable: true, encap: 'none' });
  });

  test('vxlan: VXLAN VNI 1 on UDP 8472 between any two nodes', async () => {
    const r = await check('flannel-vxlan');
    assertRunPassed(r);
    assertPath(r, 'same-subnet', { reachable: true, encap: 'vxlan', vni: 1, port: 8472 });
    assertPath(r, 'cross-subnet', { reachable: true, encap: 'vxlan', vni: 1, port: 8472 });
    assertPath(r, 'same-node', { reachable: true, encap: 'none' });
  });

  test('vxlan + DirectRouting: plain on one subnet, VXLAN across the router', async () => {
    const r = await check('flannel-vxlan-directrouting');
    assertRunPassed(r);
    assertPath(r, 'same-subnet', { reachable: true, encap: 'none' });
    assertPath(r, 'cross-subnet', { reachable: true, encap: 'vxlan', vni: 1, port: 8472 });
  });

  test('pod MTU follows the mode: 1500 for host-gw, 1450 with vxlan', async () => {
    // Whatever mode the tests before left: this one sets its own.
    if (lab.mode?.name !== 'flannel-vxlan') await lab.switchTo(getMode('flannel-vxlan'));
    const pod = lab.state.pods[0]!;
    const mtu = () =>
      JSON.parse(execFileSync('ip', ['-n', pod.netns, '-json', 'link', 'show', 'eth0'], { encoding: 'utf8' }))[0].mtu as number;
    assert.equal(mtu(), 1450);
    await lab.switchTo(getMode('flannel-host-gw'));
    assert.equal(mtu(), 1500);
  });

  test('the pcaps open in tshark and show flannel VXLAN on 8472', {
    skip: existsSync('/usr/bin/tshark') ? false : 'tshark not installed',
  }, async () => {
    const r = runs.get('flannel-vxlan') ?? (await check('flannel-vxlan'));
    assert.ok(r?.captures?.length, 'vxlan run wrote captures');
    const fields = execFileSync(
      'tshark',
      ['-r', `${out}/${r.captures[0]}`, '-d', 'udp.port==8472,vxlan', '-Y', 'vxlan', '-T', 'fields', '-e', 'vxlan.vni'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const vnis = new Set(fields.split('\n').filter(Boolean));
    assert.deepEqual([...vnis], ['1']);
  });

  test('a probe that cannot run fails every pair as an error, never as "unreachable"', async () => {
    if (lab.mode?.name !== 'flannel-host-gw') await lab.switchTo(getMode('flannel-host-gw'));
    // The same lab, seen through executors whose namespace file is not there (a namespace deleted
    // under the run, a container gone): the prober cannot open its socket in any of them.
    const broken = (e: NodeExecutor): NodeExecutor => ({
      id: e.id,
      netnsPath: `${e.netnsPath}-gone`,
      run: (argv, o) => e.run(argv, o),
      spawn: (argv, o) => e.spawn(argv, o),
      apply: (ops, o) => e.apply(ops, o),
      readFile: (f) => e.readFile(f),
      exists: () => false,
    });
    const view = viewOf(lab, { executor: (ns) => broken(lab.executor(ns)), nodeExecutor: (n) => broken(lab.nodeExecutor(n)) });

    const r = await checkMode(view, getMode('flannel-host-gw'), { outDir: out });
    assert.equal(r.status, 'failed');
    assert.equal(r.pairs.filter((p) => p.ok).length, 0, 'not one pair passes, not even the ones that must be unreachable');
    assert.equal(r.pairs.filter((p) => p.path === 'cross-subnet' && p.error).length, 16);
    assert.match(r.reason!, /30 pairs were not judged \(cannot open an ICMP socket in \/run\/netns\/\S+-gone: /);
    assert.throws(() => assertUnreachable(r, 'n1/p1', 'n3/p1'), /the probe did not run/);
    assert.equal(r.probing?.warmup.answered, 0, 'the warm-up could not probe either');
  });

  test('a custom VNI and port are what crosses the wire', async () => {
    await lab.down();
    lab = await Lab.up(await loadTopology(`${ROOT}/topologies/two-subnets.yaml`), getMode('flannel-vxlan'), {
      name,
      settings: { ...DEFAULT_SETTINGS, flannel: { vni: 42, port: 4790 } },
    });
    const r = await checkMode(lab, getMode('flannel-vxlan'), { outDir: out });
    assertRunPassed(r);
    assertEncap(r, 'n1/p2', 'n3/p1', 'vxlan', { vni: 42, port: 4790 });
  });
});
