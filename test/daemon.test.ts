// The one daemon lifecycle (harness/program/daemon.ts) on real processes in a real namespace: a
// daemon is recorded as it starts, with its log; a private mount namespace shows the lab's folder
// at a fixed path and nothing of it reaches the host; a daemon that exits is said at once with its
// log's last lines; a wait that runs out shows its limit and the logs; stop goes by pid + start time.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { DaemonExitedError, TimeoutError } from '../harness/errors.ts';
import { netnsExecutor } from '../harness/node/netns.ts';
import { isRunningDaemon, type LabDaemon, startDaemon, stopDaemons, waitReady } from '../harness/program/daemon.ts';
import { ROOT_SKIP, tmpOut } from './helpers.ts';

const NS = `daemon-test-${process.pid}`;

describe('the daemon lifecycle', { skip: ROOT_SKIP }, () => {
  const started: LabDaemon[] = [];
  const record = (d: LabDaemon) => started.push(d);
  after(async () => {
    await stopDaemons(started, 200);
    execFileSync('ip', ['netns', 'delete', NS], { stdio: 'ignore' });
  });

  test('started in its namespace, recorded with its log; a private mount of the lab folder; stopped by pid + start time', async () => {
    execFileSync('ip', ['netns', 'add', NS]);
    const dir = tmpOut('dmn');
    const exec = netnsExecutor(NS);
    const d = await startDaemon(
      exec,
      {
        what: 'writer',
        argv: ['sh', '-c', 'echo hello > /srv/hello; echo "PATH=$PATH X=$X HOME=$HOME."; exec sleep 60'],
        log: `${dir}/writer.log`,
        env: { PATH: '/usr/bin:/bin', X: 'y z' },
        mounts: { '/srv': `${dir}/run` },
      },
      record,
    );
    assert.deepEqual(started.at(-1), d, 'recorded before startDaemon returned');
    assert.equal(d.netns, NS);
    const netnsOf = (pid: number) => execFileSync('readlink', [`/proc/${pid}/ns/net`], { encoding: 'utf8' }).trim();
    await waitReady('the writer to write', { timeoutMs: 5000, daemons: [d] }, async () =>
      existsSync(`${dir}/run/hello`) ? true : undefined,
    );
    assert.equal(readFileSync(`${dir}/run/hello`, 'utf8'), 'hello\n', "the daemon's /srv is the lab's folder");
    assert.equal(existsSync('/srv/hello'), false, 'nothing reached the host');
    await assert.rejects(startDaemon(exec, { what: 'w', argv: ['true'], log: `${dir}/w.log`, mounts: { '/no/such/dir': dir } }, record));
    assert.equal(netnsOf(d.pid), execFileSync('stat', ['-L', '-c', 'net:[%i]', `/run/netns/${NS}`], { encoding: 'utf8' }).trim());
    assert.match(readFileSync(d.log!, 'utf8'), /PATH=\/usr\/bin:\/bin X=y z HOME=\./, 'its environment is the one given, nothing else');
    await stopDaemons([d], 200);
    assert.equal(isRunningDaemon(d), false);
  });

  test('a daemon that forks itself (as BIRD does) is found by its pid file, written after its launcher returned', async () => {
    const dir = tmpOut('dmp');
    const pidFile = `${dir}/d.pid`;
    // The launcher returns at once; its child writes the pid file 0.3 s later, then lives on.
    const argv = ['sh', '-c', `(sleep 0.3; sh -c 'echo $$ > ${pidFile}; exec sleep 30') >/dev/null 2>&1 &`];
    const d = await startDaemon(netnsExecutor(NS), { what: 'forker', argv, log: `${dir}/f.log`, pidFile }, record);
    assert.ok(d.pid > 0, 'the pid came from the file');
    assert.equal(isRunningDaemon(d), true);
    await stopDaemons([d], 200);
    assert.equal(isRunningDaemon(d), false);
  });

  test('a daemon that exits is said at once with its log; a wait that runs out shows its limit and the logs', async () => {
    const dir = tmpOut('dmx');
    writeFileSync(`${dir}/x`, '');
    const exec = netnsExecutor(NS);
    const quits = await startDaemon(
      exec,
      { what: 'quitter n2', argv: ['sh', '-c', 'echo "bad config line 3"; exit 3'], log: `${dir}/q.log` },
      record,
    );
    const t = Date.now();
    await assert.rejects(
      waitReady('never', { timeoutMs: 10_000, daemons: [quits] }, async () => undefined),
      (e: unknown) => e instanceof DaemonExitedError && /quitter n2 exited on its own \(quitter n2: bad config line 3\)/.test(e.message),
    );
    assert.ok(Date.now() - t < 3000, 'said at once, not after the limit');
    const sleeps = await startDaemon(
      exec,
      { what: 'sleeper', argv: ['sh', '-c', 'echo still starting; exec sleep 30'], log: `${dir}/s.log` },
      record,
    );
    await assert.rejects(
      waitReady('the sleeper to answer', { timeoutMs: 300, daemons: [sleeps], seen: () => 'no answer' }, async () => undefined),
      (e: unknown) =>
        e instanceof TimeoutError &&
        /after 300 ms waiting for the sleeper to answer; last seen: no answer \| sleeper: still starting/.test(e.message),
    );
  });
});
