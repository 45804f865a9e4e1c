// Nothing of a lab survives: a passing run, a failing run, Ctrl-C in the middle of a build, and a
// SIGKILLed run once gc has reaped it. Two labs up at once do not collide.
import { describe, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Lab } from '../harness/backends/netns/lab.ts';
import { getMode } from '../harness/modes/registry.ts';
import { loadTopology } from '../harness/topology/load.ts';
import { checkMode } from '../harness/check/index.ts';
import { assertRunPassed } from '../assertions/index.ts';
import { clean, cli, netnsOf, ROOT, ROOT_SKIP, runCli, tmpOut, uniqueLab, waitFor } from './helpers.ts';

describe('leaks', { skip: ROOT_SKIP }, () => {
  test('a passing run leaves nothing', async () => {
    const name = uniqueLab('lp');
    const out = tmpOut();
    try {
      const r = await runCli(['run', '--modes', 'flannel-vxlan,calico-bgp', '--name', name, '--out', out, '--count', '1']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /flannel-vxlan\s+netns\s+PASSED/);
      clean(name);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('a run that fails mid-build removes what it made and exits non-zero', async () => {
    const name = uniqueLab('lf');
    const r = await runCli(['run', '--modes', 'calico-bgp', '--name', name, '--out', tmpOut()], { CNILAB_FAULT: 'after-underlay' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /injected fault/);
    clean(name);
  });

  test('SIGINT in the middle of a build tears the lab down', async () => {
    const name = uniqueLab('li');
    const p = cli(['run', '--modes', 'calico-bgp', '--name', name, '--out', tmpOut()], { CNILAB_FAULT: 'hang-after-underlay' });
    let stderr = '';
    p.stderr!.on('data', (d) => (stderr += d));
    await waitFor('the lab to be half-built', () => /underlay: \d+ namespaces/.test(stderr), 30_000);
    assert.ok(netnsOf(name).length > 0, 'the build had created namespaces');
    p.kill('SIGINT');
    const code = await new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
    assert.equal(code, 130, stderr);
    clean(name);
  });

  test('a SIGKILLed run leaves namespaces that gc reaps, and gc spares labs whose owner lives', async () => {
    const victim = uniqueLab('lk');
    const keeper = uniqueLab('lv');
    const topology = await loadTopology(`${ROOT}/topologies/one-subnet.yaml`);
    const alive = await Lab.up(topology, getMode('flannel-host-gw'), { name: keeper });
    try {
      const p = cli(['run', '--modes', 'calico-bgp', '--name', victim], { CNILAB_FAULT: 'hang-after-underlay' });
      let stderr = '';
      p.stderr!.on('data', (d) => (stderr += d));
      await waitFor('the lab to be half-built', () => /underlay: \d+ namespaces/.test(stderr), 30_000);
      p.kill('SIGKILL');
      await new Promise((r) => p.on('exit', r));
      assert.ok(netnsOf(victim).length > 0, 'SIGKILL leaves the namespaces');
      const gc = await runCli(['gc']);
      assert.equal(gc.code, 0, gc.stderr);
      assert.match(gc.stdout, new RegExp(victim));
      clean(victim);
      assert.ok(netnsOf(keeper).length > 0, 'gc removed a lab whose owner is alive');
    } finally {
      await alive.down();
    }
    clean(keeper);
  });

  test('two labs up at once, same topology, do not collide', async () => {
    const [a, b] = [uniqueLab('pa'), uniqueLab('pb')];
    const t = await loadTopology(`${ROOT}/topologies/two-subnets.yaml`);
    const out = tmpOut();
    const labs = await Promise.all([
      Lab.up(t, getMode('flannel-vxlan'), { name: a }),
      Lab.up(t, getMode('calico-vxlan-always'), { name: b }),
    ]);
    try {
      const [ra, rb] = await Promise.all([
        checkMode(labs[0], getMode('flannel-vxlan'), { outDir: `${out}/a` }),
        checkMode(labs[1], getMode('calico-vxlan-always'), { outDir: `${out}/b` }),
      ]);
      assertRunPassed(ra);
      assertRunPassed(rb);
    } finally {
      await Promise.all(labs.map((l) => l.down()));
      rmSync(out, { recursive: true, force: true });
    }
    clean(a);
    clean(b);
  });

  test('a teardown witness left by a crashed teardown goes with the next down, and down still waits for the kernel', async () => {
    const name = uniqueLab('lw');
    const lab = await Lab.up(await loadTopology(`${ROOT}/topologies/one-subnet.yaml`), getMode('flannel-host-gw'), { name });
    execFileSync('ip', ['netns', 'add', `cnilab-${name}-gone`]);
    await lab.down();
    clean(name);
    const again = await Lab.up(await loadTopology(`${ROOT}/topologies/one-subnet.yaml`), getMode('flannel-host-gw'), { name });
    await again.down();
    assert.ok(again.timings.teardownMs !== undefined, 'teardown was timed');
    clean(name);
  });
});
