// What a careless or unlucky user does to a lab, found while trying manifests as an attacker would:
// two switches at once, `down` under a live run, --out through a symlink into /etc, and an --out on
// a full disk. Each is refused with one line, or ends with the true reason recorded and no temp file.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { readState } from '../harness/backends/netns/state.ts';
import type { ResultsFile } from '../harness/results/schema.ts';
import { clean, cli, exited, netnsOf, ROOT_SKIP, runCli, stderrOf, tmpOut, uniqueLab, waitFor } from './helpers.ts';

describe('robustness', { skip: ROOT_SKIP }, () => {
  test('two switches on one lab: the second is refused while the first runs; the lab is never in a third state', async () => {
    const name = uniqueLab('sw');
    const up = await runCli(['up', '--mode', 'flannel-host-gw', '--name', name]);
    assert.equal(up.code, 0, up.stderr);
    try {
      // The first switch holds its lab: it waits, kernel ops applied, until it is stopped.
      const first = cli(['switch', 'flannel-vxlan', '--name', name], { CNILAB_FAULT: 'hang-program:flannel-vxlan' });
      await waitFor('the first switch to program', () => readState(name)?.mode === 'flannel-vxlan', 20_000);
      const second = await runCli(['switch', 'calico-bgp', '--name', name]);
      assert.equal(second.code, 2, second.stderr);
      assert.match(second.stderr, new RegExp(`lab ${name} is being switched by pid ${first.pid} \\(cnilab switch flannel-vxlan\\)`));
      assert.equal(readState(name)?.mode, 'flannel-vxlan', 'the refused switch changed nothing');
      first.kill('SIGINT');
      await exited(first);
      // The interrupted one says so; the lock went with its process, so a switch now goes through.
      const third = await runCli(['switch', 'calico-bgp', '--name', name]);
      assert.equal(third.code, 0, third.stderr);
      assert.equal(readState(name)?.mode, 'calico-bgp');
    } finally {
      await runCli(['down', '--name', name]);
    }
    clean(name);
  });

  test('down under a live run is refused without --force; the run goes on and tears its lab down', async () => {
    const name = uniqueLab('dr');
    const p = cli(['run', '--modes', 'flannel-vxlan', '--name', name, '--out', tmpOut()], { CNILAB_FAULT: 'hang-after-underlay' });
    const err = stderrOf(p);
    await waitFor('the run to build', () => /underlay: \d+ namespaces/.test(err.text), 30_000);
    const down = await runCli(['down', '--name', name]);
    assert.equal(down.code, 2);
    assert.match(down.stderr, new RegExp(`lab ${name} belongs to a live run \\(pid ${p.pid}\\): taking it down would pull it`));
    assert.match(down.stderr, /--force/);
    assert.ok(netnsOf(name).length > 0, 'the lab is still there');
    p.kill('SIGINT');
    assert.equal(await exited(p), 130);
    clean(name);
  });

  test('--out through a symlink to /etc is refused before anything is built; a symlink to a folder is followed and said', async () => {
    const d = tmpOut('ln');
    symlinkSync('/etc', `${d}/etc-link`);
    const name = uniqueLab('ln');
    const r = await runCli(['run', '--modes', 'flannel-host-gw', '--name', name, '--out', `${d}/etc-link/x`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--out .*etc-link\/x: \/etc\/x is a system folder/);
    assert.equal(existsSync('/etc/x'), false);
    clean(name);
    mkdirSync(`${d}/real`);
    symlinkSync(`${d}/real`, `${d}/link`);
    const ok = await runCli(['run', '--modes', 'flannel-host-gw', '--name', name, '--out', `${d}/link`, '--count', '1']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, new RegExp(`results go to ${d}/real \\(--out ${d}/link leads there\\)`));
    assert.ok(existsSync(`${d}/real/results.json`));
    clean(name);
  });

  test('--out on a disk that fills up: the capture is an error naming ENOSPC, results.json keeps the reason, no temp file', async () => {
    const d = tmpOut('full');
    // Room for the reserve cnilab keeps (2 MiB) and a little more: the pcaps fill the rest.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2100k', 'tmpfs', d]);
    const name = uniqueLab('fu');
    try {
      const r = await runCli(['run', '--modes', 'flannel-vxlan', '--name', name, '--out', `${d}/out`, '--count', '5']);
      assert.equal(r.code, 1, r.stderr.slice(-2000));
      assert.match(
        r.stdout,
        /flannel-vxlan on netns: FAILED \(netns backend failed: the capture file .*underlay-\w\.pcap (ends inside|holds)/,
      );
      assert.doesNotMatch(r.stderr, /internal error/);
      const res = JSON.parse(readFileSync(`${d}/out/results.json`, 'utf8')) as ResultsFile;
      assert.equal(res.incomplete, undefined, 'the run finished and said so');
      assert.match(res.runs[0]!.reason ?? '', /no space left on the device \(ENOSPC\); no pair of this mode was judged/);
      assert.deepEqual(
        readdirSync(`${d}/out`).filter((f) => f.endsWith('.tmp') || f.startsWith('.cnilab')),
        [],
        'no temp file, no reserve, no lock left',
      );
    } finally {
      execFileSync('umount', [d]);
    }
    clean(name);
  });
});
