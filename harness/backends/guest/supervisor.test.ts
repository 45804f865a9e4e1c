// gc of guests by their record: a guest whose run is dead is killed by pid and its temp dir goes,
// whatever its command line says; a live run's guest is never touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRunning, processStartTime } from '../../kernel/procs.ts';
import { GUEST_RECORD, type GuestRecord, reapGuests } from './supervisor.ts';

const kind = { name: 'test', tempPrefix: 'cnilab-unittest-guest-', tagOf: (id: string) => `cnilab-unittest-tag-${id}` };

/** A stand-in guest: a process whose argv does not carry the tag (gc must find it by its record). */
function fakeGuest() {
  const p = spawn('perl', ['-e', 'sleep 60'], { stdio: 'ignore' });
  const exited = new Promise<string | null>((r) => p.once('exit', (_c, sig) => r(sig)));
  return { pid: p.pid!, startTime: processStartTime(p.pid!)!, p, exited };
}

test('gc kills the guest of a dead run by its record and removes its dir; a live run keeps its guest', async () => {
  const deadDir = join(tmpdir(), `${kind.tempPrefix}dead-a1b2c3-Abc123`);
  const liveDir = join(tmpdir(), `${kind.tempPrefix}live-a1b2c3-Abc123`);
  const dead = fakeGuest();
  const live = fakeGuest();
  try {
    await mkdir(deadDir, { recursive: true });
    await mkdir(liveDir, { recursive: true });
    const rec = (id: string, owner: GuestRecord['owner'], g: { pid: number; startTime: number }): GuestRecord => ({
      kind: 'test',
      id,
      name: `cnilab-${id}`,
      owner,
      supervisor: g,
      guest: g,
    });
    // A dead owner: a pid whose start time does not match (the run is gone, the pid maybe reused).
    await writeFile(join(deadDir, GUEST_RECORD), JSON.stringify(rec('dead-a1b2c3', { pid: process.pid, startTime: 1 }, dead)));
    const me = { pid: process.pid, startTime: processStartTime(process.pid)! };
    await writeFile(join(liveDir, GUEST_RECORD), JSON.stringify(rec('live-a1b2c3', me, live)));

    const reaped = await reapGuests(kind);
    assert.equal(reaped.length, 1, reaped.join('\n'));
    assert.match(reaped[0]!, new RegExp(`^test guest dead-a1b2c3 of a dead run \\(pid ${process.pid}\\): killed pid ${dead.pid}`));
    assert.equal(await dead.exited, 'SIGKILL');
    assert.equal(existsSync(deadDir), false);
    assert.ok(isRunning(live.pid), "the live run's guest runs on");
    assert.ok(existsSync(liveDir));
  } finally {
    dead.p.kill('SIGKILL');
    live.p.kill('SIGKILL');
    await rm(deadDir, { recursive: true, force: true });
    await rm(liveDir, { recursive: true, force: true });
  }
});
