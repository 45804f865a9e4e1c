import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { claimOutDir, LOCK } from './outdir.ts';

test("an output folder held by a live run is refused; a dead run's lock is taken over; release frees it", () => {
  const dir = mkdtempSync(`${tmpdir()}/cnilab-lock-`);
  try {
    const release = claimOutDir(dir);
    assert.throws(() => claimOutDir(dir), /--out .* is in use by a live run \(pid \d+\)/);
    release();
    assert.equal(existsSync(`${dir}/${LOCK}`), false);
    // A lock whose owner is gone (pid 999999 never has that start time): stale.
    writeFileSync(`${dir}/${LOCK}`, JSON.stringify({ pid: 999_999, startTime: 1 }));
    claimOutDir(dir)();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
