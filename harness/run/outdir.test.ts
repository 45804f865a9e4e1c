import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { claimOutDir, LOCK } from './outdir.ts';

test("an output folder held by a live run is refused; a dead run's lock is taken over; release frees it", () => {
  const dir = mkdtempSync(`${tmpdir()}/cnilab-lock-`);
  try {
    const { release } = claimOutDir(dir);
    assert.throws(() => claimOutDir(dir), /--out .* is in use by a live run \(pid \d+\)/);
    release();
    assert.equal(existsSync(`${dir}/${LOCK}`), false);
    // A lock whose owner is gone (pid 999999 never has that start time): stale.
    writeFileSync(`${dir}/${LOCK}`, JSON.stringify({ pid: 999_999, startTime: 1 }));
    claimOutDir(dir).release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--out through a symlink: the folder it names is checked and used; a system folder is refused, not followed', () => {
  const dir = mkdtempSync(`${tmpdir()}/cnilab-link-`);
  try {
    symlinkSync('/etc', `${dir}/to-etc`);
    assert.throws(() => claimOutDir(`${dir}/to-etc`), /--out .*to-etc: \/etc is a system folder/);
    assert.throws(() => claimOutDir(`${dir}/to-etc/cnilab`), /\/etc\/cnilab is a system folder/);
    assert.equal(existsSync('/etc/cnilab'), false, 'nothing was made in /etc');
    assert.throws(() => claimOutDir('/usr/share'), /system folder/);
    mkdirSync(`${dir}/real`);
    symlinkSync(`${dir}/real`, `${dir}/link`);
    const out = claimOutDir(`${dir}/link`);
    assert.equal(out.path, realpathSync(`${dir}/real`));
    assert.ok(existsSync(`${dir}/real/${LOCK}`), 'the lock is in the folder the link names');
    out.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
