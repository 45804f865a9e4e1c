// How a daemon's private mount namespace is made (calico-node's): overlays first, then binds, then
// tmpfs, all before exec; paths that overlay's option parser would split are refused; nothing is
// made on the host but the lab's own folders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { runOnce } from './daemon.ts';

function fakeNode() {
  const seen: string[][] = [];
  return {
    seen,
    exec: {
      id: 'node-n1',
      run: async (argv: readonly string[]) => {
        seen.push([...argv]);
        return { exitCode: 0, stdout: '', stderr: '' };
      },
    },
  };
}

test('an overlay on /var/lib whose writes land in the lab, an empty /run, then exec', async () => {
  const lab = mkdtempSync(`${tmpdir()}/cnilab-mounts-`);
  try {
    const { seen, exec } = fakeNode();
    await runOnce(
      exec,
      {
        what: 'calico-node -startup n1',
        argv: ['/bin/calico-node', '-startup'],
        env: { NODENAME: 'n1' },
        log: `${lab}/startup.log`,
        overlays: { '/var/lib': `${lab}/startup` },
        tmpfs: ['/run'],
      },
      1000,
    );
    const cmd = seen[0]!.at(-1)!;
    const overlay = cmd.indexOf(`lowerdir=/var/lib,upperdir=${lab}/startup/upper,workdir=${lab}/startup/work`);
    const tmpfs = cmd.indexOf('mount -t tmpfs -o mode=0755 cnilab');
    assert.ok(overlay > 0 && tmpfs > overlay, `overlay before tmpfs: ${cmd}`);
    assert.match(cmd, /unshare.*--propagation.*private/);
    assert.match(cmd, /env.*-i.*NODENAME=n1.*\/bin\/calico-node.*-startup/);
    assert.ok(existsSync(`${lab}/startup/upper`) && existsSync(`${lab}/startup/work`), 'the lab folders are made');
  } finally {
    rmSync(lab, { recursive: true, force: true });
  }
});

test("a lab path overlay's options would split, and a mount target missing on the host, are refused", async () => {
  const { exec } = fakeNode();
  const spec = { what: 'felix n1', argv: ['x'], log: '/dev/null' };
  const bad = `${tmpdir()}/cnilab-mounts-${process.pid},lowerdir=`;
  await assert.rejects(runOnce(exec, { ...spec, overlays: { '/var/lib': `${bad}/etc` } }, 1000), /must not hold ',' or ':'/);
  assert.equal(existsSync(bad), false, 'refused before any folder is made');
  await assert.rejects(runOnce(exec, { ...spec, tmpfs: ['/no/such/folder'] }, 1000), /does not exist on this host/);
});
