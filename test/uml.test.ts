// Real User-Mode Linux boots (~2 s each). Skipped, with the reason, when linux.uml is not installed.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestError as UmlError } from '../harness/errors.ts';
import { EXIT_MARKER } from '../harness/backends/guest/console.ts';
import { runInGuest, type RunInGuestOptions as RunInUmlOptions } from '../harness/backends/guest/runner.ts';
import { findUml, umlGuest } from '../harness/backends/uml/guest.ts';

const runInUml = (o: RunInUmlOptions) => runInGuest(umlGuest, o);

const found = await findUml();
const missing = 'missing' in found ? found.missing : undefined;

/** Host processes whose command line mentions a umid starting with `name-`. */
async function umlProcesses(name: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'latin1').catch(() => '');
    if (cmd.split('\0').some((a) => a.startsWith(`umid=${name}-`))) out.push(`${e} ${cmd.replace(/\0/g, ' ').slice(0, 120)}`);
  }
  return out;
}

async function tempDirsOf(name: string): Promise<string[]> {
  return (await readdir(tmpdir())).filter((d) => d.startsWith(`cnilab-uml-${name}-`));
}

/** Runs and then checks that the guest left nothing behind on the host. */
async function run(t: TestContext, o: Partial<RunInUmlOptions> & { command: string[]; name: string }) {
  const lines: string[] = [];
  try {
    const r = await runInUml({ cwd: '/', timeoutMs: 60_000, onConsole: (l) => lines.push(l), ...o });
    return { ...r, lines };
  } finally {
    assert.deepEqual(await umlProcesses(o.name), [], 'no linux.uml process may survive');
    assert.deepEqual(await tempDirsOf(o.name), [], 'no temp dir may survive');
    t.diagnostic(`${o.name}: ${lines.length} console lines`);
  }
}

test('exit 0 propagates and stdout reaches the console', async (t) => {
  if (missing) return t.skip(missing);
  const r = await run(t, { name: 'cnilab-test-ok', command: ['sh', '-c', 'echo hello-from-guest; echo to-stderr >&2; exit 0'] });
  assert.equal(r.exitCode, 0);
  assert.ok(r.lines.includes('hello-from-guest'), 'onConsole got the line');
  assert.ok(r.lines.includes('to-stderr'), 'stderr is on the console too');
  assert.match(r.console, /^hello-from-guest$/m);
  assert.ok(!r.console.includes(EXIT_MARKER), 'the marker is not part of the console');
  t.diagnostic(`boot + run took ${r.durationMs} ms`);
});

test('exit 3 propagates; cwd and env are applied', async (t) => {
  if (missing) return t.skip(missing);
  const r = await run(t, {
    name: 'cnilab-test-exit3',
    cwd: '/usr/share',
    env: { CNILAB_X: "a 'quoted' value" },
    command: ['sh', '-c', 'echo "cwd=$(pwd) x=$CNILAB_X home=$HOME"; command -v ip; exit 3'],
  });
  assert.equal(r.exitCode, 3);
  assert.ok(r.lines.includes(`cwd=/usr/share x=a 'quoted' value home=/root`), r.console);
  assert.ok(
    r.lines.some((l) => /\/ip$/.test(l)),
    'PATH includes sbin',
  );
});

test('a shared folder is writable by the guest', async (t) => {
  if (missing) return t.skip(missing);
  const host = await mkdtemp(join(tmpdir(), 'cnilab-umltest-share-'));
  try {
    const r = await run(t, {
      name: 'cnilab-test-share',
      share: [{ hostPath: host, guestPath: '/mnt/out' }],
      command: ['sh', '-c', 'echo written-in-guest > /mnt/out/result.txt && mkdir /mnt/out/sub && touch /mnt/out/sub/x'],
    });
    assert.equal(r.exitCode, 0, r.console);
    assert.equal(await readFile(join(host, 'result.txt'), 'utf8'), 'written-in-guest\n');
    assert.deepEqual(await readdir(join(host, 'sub')), ['x']);
  } finally {
    await rm(host, { recursive: true, force: true });
  }
});

test('ipip works in a network namespace inside the guest (modprobe ipip), veth and bridge autoload', async (t) => {
  if (missing) return t.skip(missing);
  const script = [
    'set -e',
    'ip netns add n1',
    'ip -n n1 link add t0 type ipip local 10.0.0.1 remote 10.0.0.2',
    'ip -n n1 -d link show t0',
    'ip -n n1 link show tunl0',
    'ip link add v0 type veth peer name v1',
    'ip link set v1 netns n1',
    'ip link add br0 type bridge',
    'ip link set v0 master br0',
    'ip netns exec n1 ls /sys/class/net',
    'echo ALL-OK',
  ].join('\n');
  const r = await run(t, { name: 'cnilab-test-ipip', modules: ['ipip'], command: ['sh', '-c', script] });
  assert.equal(r.exitCode, 0, r.console);
  assert.ok(r.lines.includes('ALL-OK'), r.console);
  assert.match(r.console, /ipip (any )?remote 10\.0\.0\.2 local 10\.0\.0\.1/);
  assert.match(r.console, /tunl0@NONE/);
});

test('a command that never ends is killed at the timeout with UmlError, leaving nothing behind', async (t) => {
  if (missing) return t.skip(missing);
  const t0 = Date.now();
  await assert.rejects(
    // Long enough for a slow boot (3.4 s on a loaded 2-core machine) to reach the command.
    run(t, { name: 'cnilab-test-timeout', timeoutMs: 12_000, command: ['sh', '-c', 'echo sleeping-forever; exec sleep 100000'] }),
    (e: unknown) => {
      assert.ok(e instanceof UmlError, String(e));
      assert.equal(e.kind, 'timeout');
      assert.match(e.message, /timed out after 12000 ms/);
      assert.ok(e.consoleTail.includes('sleeping-forever'), e.message);
      return true;
    },
  );
  const took = Date.now() - t0;
  assert.ok(took < 25_000, `took ${took} ms`);
});

test('an abort signal kills the guest with UmlError', async (t) => {
  if (missing) return t.skip(missing);
  const ac = new AbortController();
  const p = run(t, {
    name: 'cnilab-test-abort',
    signal: ac.signal,
    onConsole: (l) => {
      if (l === 'ready-to-abort') ac.abort();
    },
    command: ['sh', '-c', 'echo ready-to-abort; exec sleep 100000'],
  });
  await assert.rejects(p, (e: unknown) => e instanceof UmlError && e.kind === 'aborted');
});

test('a kernel panic in the guest is an UmlError with the console tail', async (t) => {
  if (missing) return t.skip(missing);
  await assert.rejects(run(t, { name: 'cnilab-test-panic', command: ['sh', '-c', 'echo c > /proc/sysrq-trigger'] }), (e: unknown) => {
    assert.ok(e instanceof UmlError, String(e));
    assert.equal(e.kind, 'crashed');
    assert.ok(e.consoleTail.length > 0 && e.consoleTail.length <= 40);
    assert.match(e.message, /Kernel panic/);
    return true;
  });
});

test('a module that does not exist fails the setup, not the command', async (t) => {
  if (missing) return t.skip(missing);
  await assert.rejects(
    run(t, { name: 'cnilab-test-nomod', modules: ['no_such_module'], command: ['true'] }),
    (e: unknown) => e instanceof UmlError && e.kind === 'setup' && /modprobe no_such_module/.test(e.message),
  );
});

test('two guests run at the same time', async (t) => {
  if (missing) return t.skip(missing);
  const [a, b] = await Promise.all(
    ['a', 'b'].map((x) =>
      run(t, { name: `cnilab-test-par${x}`, command: ['sh', '-c', `echo guest-${x}; sleep 1; exit ${x === 'a' ? 0 : 5}`] }),
    ),
  );
  assert.equal(a?.exitCode, 0);
  assert.equal(b?.exitCode, 5);
  assert.ok(a?.lines.includes('guest-a') && !a.lines.includes('guest-b'));
  assert.ok(b?.lines.includes('guest-b') && !b.lines.includes('guest-a'));
});
