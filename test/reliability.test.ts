// A lab nothing can corrupt: two runs on one --out, gc and down --all racing a live run, a switch
// that fails (rolled back, verified) or cannot run here (nothing removed), a SIGKILL mid-run (the
// finished modes kept, then --resume), a SIGKILLed check (its tcpdump dies with it), and signals
// at many moments of a whole run (nothing leaks at any of them).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { labDir } from '../harness/backends/netns/state.ts';
import { kernelFeatures } from '../harness/host/doctor.ts';
import { processStartTime } from '../harness/kernel/procs.ts';
import { probeNetnsName } from '../harness/plan/names.ts';
import type { ResultsFile } from '../harness/results/schema.ts';
import { clean, cli, exited, netnsOf, ROOT_SKIP, runCli, stderrOf, tmpOut, uniqueLab, waitFor } from './helpers.ts';

/** A lab left up by `cnilab up` for the test's body; downed and checked clean whatever the body does. */
async function withLab(tag: string, mode: string, body: (name: string) => Promise<void>): Promise<void> {
  const name = uniqueLab(tag);
  const up = await runCli(['up', '--mode', mode, '--name', name]);
  assert.equal(up.code, 0, up.stderr);
  try {
    await body(name);
  } finally {
    await runCli(['down', '--name', name]);
  }
  clean(name);
}
const allNetns = () =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);

describe('reliability', { skip: ROOT_SKIP }, () => {
  test('a second run on the same --out is refused while the first lives; gc and down --all spare it', async () => {
    const out = tmpOut();
    const [first, second] = [uniqueLab('ra'), uniqueLab('rb')];
    const p = cli(['run', '--modes', 'calico-bgp', '--name', first, '--out', out], { CNILAB_FAULT: 'hang-after-underlay' });
    const err = stderrOf(p);
    await waitFor('the first run to build', () => /underlay: \d+ namespaces/.test(err.text), 30_000);
    const r = await runCli(['run', '--modes', 'flannel-vxlan', '--name', second, '--out', out]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--out .* is in use by a live run \(pid \d+\)/);
    assert.deepEqual(netnsOf(second), [], 'the refused run built nothing');
    assert.equal((await runCli(['gc'])).code, 0);
    assert.equal((await runCli(['down', '--all'])).code, 0);
    assert.ok(netnsOf(first).length > 0, 'gc or down --all removed a live run');
    p.kill('SIGINT');
    assert.equal(await exited(p), 130);
    clean(first);
  });

  test("gc spares the kernel probe namespace of a live run and reaps a dead one's", async () => {
    const live = probeNetnsName({ pid: process.pid, startTime: processStartTime(process.pid)! });
    const dead = probeNetnsName({ pid: 999_999, startTime: 1 });
    execFileSync('ip', ['netns', 'add', live]);
    execFileSync('ip', ['netns', 'add', dead]);
    try {
      assert.equal((await runCli(['gc'])).code, 0);
      assert.ok(allNetns().includes(live), "gc deleted a live run's probe namespace");
      assert.ok(!allNetns().includes(dead), "gc left a dead run's probe namespace");
    } finally {
      for (const n of [live, dead]) if (allNetns().includes(n)) execFileSync('ip', ['netns', 'del', n]);
    }
  });

  test('a switch that fails is rolled back and verified; status and check tell the truth', async () => {
    await withLab('rs', 'calico-bgp', async (name) => {
      const sw = await runCli(['switch', 'calico-vxlan-always', '--name', name], { CNILAB_FAULT: 'program:calico-vxlan-always' });
      assert.equal(sw.code, 1, sw.stdout + sw.stderr);
      assert.match(
        sw.stderr,
        /switch to calico-vxlan-always failed and was rolled back to calico-bgp \(verified: nothing stale\): injected fault/,
      );
      const st = JSON.parse((await runCli(['status', '--name', name, '--json'])).stdout);
      assert.deepEqual([st.mode, st.health, st.problems], ['calico-bgp', 'healthy', []]);
      const check = await runCli(['check', '--name', name, '--out', tmpOut()]);
      assert.equal(check.code, 0, check.stdout.slice(-2000) + check.stderr);
    });
  });

  test('a switch to a mode this kernel cannot run removes nothing', async (t) => {
    if ((await kernelFeatures()).ipip.ok) return t.skip('this kernel has ipip: every mode can run here');
    await withLab('rk', 'flannel-vxlan', async (name) => {
      const sw = await runCli(['switch', 'calico-ipip-always', '--name', name]);
      assert.equal(sw.code, 2);
      assert.match(sw.stderr, /mode calico-ipip-always cannot run on this kernel .* lab \w+ is unchanged, still flannel-vxlan/);
      const st = JSON.parse((await runCli(['status', '--name', name, '--json'])).stdout);
      assert.deepEqual([st.mode, st.health], ['flannel-vxlan', 'healthy']);
      assert.equal((await runCli(['check', '--name', name, '--out', tmpOut()])).code, 0);
    });
  });

  test('status from reality: a namespace deleted by hand makes the lab degraded, naming it', async () => {
    await withLab('rd', 'flannel-host-gw', async (name) => {
      execFileSync('ip', ['netns', 'del', `cnilab-${name}-pod-n1-p1`]);
      const st = JSON.parse((await runCli(['status', '--name', name, '--json'])).stdout);
      assert.equal(st.health, 'degraded');
      assert.deepEqual(st.problems, [`namespace cnilab-${name}-pod-n1-p1 is gone`]);
    });
  });

  test('a corrupt state file is reported as such, and down still removes the lab', async () => {
    const name = uniqueLab('rc');
    assert.equal((await runCli(['up', '--mode', 'flannel-host-gw', '--name', name])).code, 0);
    writeFileSync(`${labDir(name)}/state.json`, '{"lab": "trunc');
    const st = await runCli(['status', '--name', name]);
    assert.equal(st.code, 2);
    assert.match(st.stderr, /state\.json is corrupt .*; 12 of its namespaces are alive/);
    const down = await runCli(['down', '--name', name]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /12 namespaces removed by name/);
    clean(name);
  });

  test('a SIGKILL mid-run keeps the finished modes; --resume runs only the rest', async () => {
    const out = tmpOut();
    const name = uniqueLab('rr');
    const p = cli(['run', '--modes', 'flannel-host-gw,calico-bgp', '--name', name, '--out', out, '--count', '1'], {
      CNILAB_FAULT: 'hang-program:calico-bgp',
    });
    const err = stderrOf(p);
    await waitFor('the first mode to finish', () => /flannel-host-gw on netns: PASSED/.test(err.text), 60_000);
    await new Promise((r) => setTimeout(r, 500));
    p.kill('SIGKILL');
    await exited(p);
    const partial = JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile;
    assert.deepEqual(partial.incomplete, { reason: 'running', done: 1, of: 2 });
    assert.deepEqual(
      partial.runs.map((r) => [r.mode, r.status]),
      [['flannel-host-gw', 'passed']],
    );
    assert.equal((await runCli(['gc'])).code, 0);
    clean(name);
    const again = await runCli(['run', '--modes', 'flannel-host-gw,calico-bgp', '--name', name, '--out', out, '--count', '1', '--resume']);
    assert.equal(again.code, 0, again.stderr.slice(-2000));
    assert.match(again.stderr, /--resume: 1 modes already done/);
    const full = JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile;
    assert.equal(full.incomplete, undefined);
    assert.deepEqual(
      full.runs.map((r) => [r.mode, r.status]),
      [
        ['flannel-host-gw', 'passed'],
        ['calico-bgp', 'passed'],
      ],
    );
    clean(name);
  });

  test('a SIGKILLed check leaves no tcpdump behind', async () => {
    await withLab('rt', 'flannel-vxlan', async (name) => {
      const tcpdumps = () =>
        netnsOf(name)
          .flatMap((ns) => execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean))
          .filter((pid) => existsSync(`/proc/${pid}/comm`) && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'tcpdump');
      // 100 echoes a pair, 10 ms apart: the capture lives ~1 s, long enough to be seen (a default
      // check is over in ~0.2 s now, faster than this poll of every namespace's processes).
      const p = cli(['check', '--name', name, '--out', tmpOut(), '--count', '100']);
      await waitFor('tcpdump to capture', () => tcpdumps().length > 0, 30_000);
      p.kill('SIGKILL');
      await exited(p);
      await waitFor('tcpdump to die with its parent', () => tcpdumps().length === 0, 5_000);
    });
  });

  test('the terminal shows the summary and only failing pairs, within 100 columns; --verbose shows every pair', async () => {
    const quietish = await runCli(['run', '--modes', 'flannel-host-gw,calico-bgp', '--out', tmpOut(), '--count', '1']);
    assert.equal(quietish.code, 0, quietish.stderr.slice(-1500));
    const lines = quietish.stdout.split('\n');
    assert.ok(lines.length < 25, `${lines.length} lines:\n${quietish.stdout}`);
    for (const l of lines) assert.ok(l.length <= 100, `${l.length} columns: ${l}`);
    assert.doesNotMatch(quietish.stdout, /n1\/p1 -> n2\/p1/, 'passing pairs are not listed by default');
    const verbose = await runCli(['run', '--modes', 'flannel-host-gw', '--out', tmpOut(), '--count', '1', '--verbose']);
    assert.equal((verbose.stdout.match(/ ok$/gm) ?? []).length, 30, 'every pair with --verbose');
  });

  test('SIGINT and SIGTERM at many moments of a run: nothing leaks at any of them', { timeout: 600_000 }, async (t) => {
    const before = allNetns().filter((n) => n.startsWith('cnilab-probe-'));
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      for (const at of [0.3, 0.9, 1.1, 1.3, 1.6, 2, 2.5, 3, 4, 5.5]) {
        const name = uniqueLab('sw');
        const p = cli(['run', '--modes', 'flannel-vxlan,calico-bgp', '--name', name, '--out', tmpOut(), '--count', '1']);
        const err = stderrOf(p);
        // Listened for from the start: a run may finish before its signal comes.
        const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => p.on('exit', (c, s) => r([c, s])));
        await new Promise((r) => setTimeout(r, at * 1000));
        p.kill(sig);
        const [code, signal] = await exited;
        // Finished before the signal: 0. Handled: 130/143. Before node installed its handlers (still loading): killed by it.
        assert.ok(
          [0, 130, 143].includes(code ?? -1) || signal === sig,
          `${sig} at ${at} s: exit ${code} ` + `${signal}\n${err.text.slice(-1500)}`,
        );
        clean(name);
        assert.deepEqual(
          allNetns().filter((n) => n.startsWith('cnilab-probe-') && !before.includes(n)),
          [],
          `${sig} at ${at} s leaked a probe namespace`,
        );
        t.diagnostic(`${sig} at ${at} s: exit ${code}, clean`);
      }
    }
  });
});
