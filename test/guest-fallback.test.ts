// Where UML cannot boot (a CPU whose XSAVE area breaks UML 6.1), every mode still runs: IPIP falls
// back to qemu. Reproduced on every host with a stand-in for linux.uml that panics the way the real
// one does there (test/fixtures/uml-that-panics), and its own probe cache, so the real one is untouched.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { qemuGuest } from '../harness/backends/qemu/guest.ts';
import { allModes } from '../harness/modes/registry.ts';
import type { ResultsFile } from '../harness/results/schema.ts';
import { netnsOf, ROOT, ROOT_SKIP, runCli, tmpOut, uniqueLab } from './helpers.ts';

const STAND_IN = `${ROOT}/test/fixtures/uml-that-panics`;
const env = (cache: string) => ({ CNILAB_UML_KERNEL: STAND_IN, CNILAB_CACHE_DIR: cache });
const ONE_LINE = 'uml guest panicked before init: ptrace set fp regs failed (host CPU XSAVE area too large for UML 6.1)';

const qemu = (await qemuGuest.find()) as { ok: true } | { missing: string };
const QEMU_SKIP = 'missing' in qemu ? `qemu guest unavailable: ${qemu.missing}` : false;

describe('a host where UML does not boot', { skip: ROOT_SKIP }, () => {
  test('doctor says so, in one line naming the cause and the console log', async () => {
    const cache = tmpOut('probe');
    const r = await runCli(['doctor', '--json'], env(cache));
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout) as { backends: { name: string; available: { ok: boolean; detail: string } }[] };
    const uml = d.backends.find((b) => b.name === 'uml')!;
    assert.equal(uml.available.ok, false);
    assert.ok(uml.available.detail.startsWith(`does not boot: ${ONE_LINE} (console: ${cache}/probe-uml.log)`), uml.available.detail);
    assert.doesNotMatch(uml.available.detail, /\n/);
    assert.match(readFileSync(`${cache}/probe-uml.log`, 'utf8'), /ptrace set fp regs failed, errno = 14/);
  });

  test('--backend uml skips the IPIP modes with that line; the table fits 100 columns', async () => {
    const out = tmpOut();
    const r = await runCli(['run', '--backend', 'uml', '--modes', 'calico-ipip-always', '--out', out], env(tmpOut('probe')));
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile;
    assert.equal(res.runs[0]!.status, 'skipped');
    assert.match(res.runs[0]!.reason!, new RegExp(ONE_LINE.replace(/[()]/g, '\\$&')));
    const table = r.stdout.slice(r.stdout.lastIndexOf('\nmode ') + 1).split('\n\n')[0]!;
    assert.match(table, /calico-ipip-always +uml +SKIPPED/);
    for (const line of table.split('\n')) assert.ok(line.length <= 100, `${line.length} columns: ${line}`);
  });

  test('cnilab run passes every mode (the real flanneld too), IPIP in qemu, captured on the wire', {
    skip: QEMU_SKIP,
    timeout: 600_000,
  }, async () => {
    const out = tmpOut();
    const name = uniqueLab('fb');
    const r = await runCli(['run', '--out', out, '--name', name, '--count', '2'], env(tmpOut('probe')));
    assert.equal(r.code, 0, r.stdout.slice(-3000) + r.stderr.slice(-3000));
    const res = JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile;
    // Every mode but those a plain run leaves out, and it says which.
    const left = allModes().filter((m) => m.onlyWhenNamed);
    assert.equal(res.runs.length, allModes().length - left.length);
    assert.match(
      r.stderr,
      new RegExp(`not in a plain run \\(minutes in a guest\\); name them in --modes:\n.*  ${left.map((m) => m.name).join(',')}`),
    );
    for (const run of res.runs) assert.equal(run.status, 'passed', `${run.mode}: ${run.reason}`);
    for (const mode of ['calico-ipip-always', 'calico-ipip-crosssubnet']) {
      const run = res.runs.find((x) => x.mode === mode)!;
      assert.equal(run.backend, 'qemu');
      assert.ok(
        run.pairs.some((p) => p.path === 'cross-subnet' && p.observed.encap === 'ipip' && p.ok),
        `${mode}: IPIP across the router`,
      );
      assert.ok(
        run.captures?.every((c) => c.startsWith('qemu/')),
        'captures came back from the guest',
      );
    }
    assert.deepEqual(netnsOf(name), []);
  });
});
