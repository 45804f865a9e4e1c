// The qemu path exercised wherever it can run, even where UML boots: IPIP Always and CrossSubnet
// forced into a qemu guest from the CLI, checked on the wire and in tshark, nothing left behind;
// and a SIGKILLed run, whose guest dies with it and whose temp folder gc reaps.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { assertPath, assertRunPassed } from '../assertions/index.ts';
import { pidsWithTag } from '../harness/backends/guest/supervisor.ts';
import { qemuBackend } from '../harness/backends/qemu/index.ts';
import type { ResultsFile } from '../harness/results/schema.ts';
import { assertIpipCaptured, cli, netnsOf, ROOT_SKIP, runCli, tmpOut, uniqueLab, waitFor } from './helpers.ts';

const qemu = await qemuBackend.available();
const SKIP = ROOT_SKIP || (qemu.ok ? false : `qemu backend unavailable: ${qemu.detail}`);

/** qemu processes and temp dirs of a lab's guests. */
function qemuLeftovers(lab: string): string[] {
  const procs = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('qemu-system') && l.includes(`cnilab-qemu-cnilab-${lab}-`));
  return [...procs, ...readdirSync(tmpdir()).filter((d) => d.startsWith(`cnilab-qemu-cnilab-${lab}-`))];
}

describe('IPIP in a qemu guest', { skip: SKIP }, () => {
  test('--backend qemu: Always and CrossSubnet pass, IPIP on the wire, nothing left', { timeout: 600_000 }, async () => {
    const out = tmpOut();
    const name = uniqueLab('qm');
    const r = await runCli([
      'run',
      '--backend',
      'qemu',
      '--modes',
      'calico-ipip-always,calico-ipip-crosssubnet',
      '--out',
      out,
      '--name',
      name,
      '--count',
      '2',
    ]);
    assert.equal(r.code, 0, r.stdout.slice(-3000) + r.stderr.slice(-3000));
    const res = JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile;
    const [always, cross] = res.runs;
    for (const run of res.runs) {
      assert.equal(run.backend, 'qemu');
      assertRunPassed(run);
    }
    assertPath(always!, 'same-subnet', { reachable: true, encap: 'ipip' });
    assertPath(always!, 'cross-subnet', { reachable: true, encap: 'ipip' });
    assertPath(cross!, 'same-subnet', { reachable: true, encap: 'none' });
    assertPath(cross!, 'cross-subnet', { reachable: true, encap: 'ipip' });
    assert.deepEqual(cross!.stale, [], 'Always -> CrossSubnet left state in the guest');
    assertIpipCaptured(`${out}/${always!.captures![0]}`);
    assert.match(readFileSync(`${out}/qemu-console.log`, 'utf8'), /calico-ipip-crosssubnet: probed 30 pairs \(deadline \d+ ms\)/);
    assert.deepEqual(qemuLeftovers(name), []);
    assert.deepEqual(netnsOf(name), []);
  });

  test('SIGKILL of the runner: the guest dies with it, gc reaps its temp folder', { timeout: 300_000 }, async () => {
    const name = uniqueLab('qk');
    const p = cli(['run', '--backend', 'qemu', '--modes', 'calico-ipip-always', '--name', name, '--out', tmpOut()]);
    let stderr = '';
    p.stderr!.on('data', (d) => (stderr += d));
    await waitFor('the guest agent to start', () => /qemu\| .*agent ready/.test(stderr), 200_000);
    assert.ok(qemuLeftovers(name).length > 0, 'a guest was running');
    p.kill('SIGKILL');
    await new Promise((r) => p.on('exit', r));
    // PR_SET_PDEATHSIG in the supervisor: no qemu outlives its runner.
    await waitFor(
      'the guest to die with its runner',
      () =>
        execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' })
          .split('\n')
          .every((l) => !l.includes(`cnilab-qemu-cnilab-${name}-`)),
      20_000,
    );
    assert.deepEqual(await pidsWithTag(`cnilab-qemu-cnilab-${name}`), []);
    await new Promise((r) => setTimeout(r, 11_000)); // gc spares a temp dir younger than 10 s (a guest being started)
    const gc = await runCli(['gc']);
    assert.equal(gc.code, 0, gc.stderr);
    assert.deepEqual(qemuLeftovers(name), []);
  });
});
