// The guest runner, tested on every guest kind whose boot probe succeeds here (UML boots on some
// CPUs and panics on others; qemu's emulation boots everywhere). Each test checks that the guest
// left nothing behind on the host. Where this kernel lacks ipip, at least one kind must boot: the
// IPIP modes would otherwise go unverified, and that is a failure, not a skip.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_MARKER } from '../harness/backends/guest/console.ts';
import { probeBoot } from '../harness/backends/guest/probe.ts';
import { runInGuest, type GuestKind, type RunInGuestOptions } from '../harness/backends/guest/runner.ts';
import { qemuGuest } from '../harness/backends/qemu/guest.ts';
import { umlGuest } from '../harness/backends/uml/guest.ts';
import { GuestError } from '../harness/errors.ts';
import { doctor } from '../harness/host/doctor.ts';
import { ROOT_SKIP } from './helpers.ts';

const KINDS: GuestKind[] = [umlGuest, qemuGuest];
const probes = new Map<string, { ok: boolean; detail: string }>();
for (const kind of KINDS) {
  const found = await kind.find();
  probes.set(kind.name, 'missing' in found ? { ok: false, detail: found.missing } : await probeBoot(kind));
}

test('where this kernel has no ipip, at least one guest kind boots', { skip: ROOT_SKIP }, async () => {
  const host = await doctor();
  if (host.kernel.ipip.ok) return;
  const booting = KINDS.filter((k) => probes.get(k.name)?.ok);
  assert.ok(
    booting.length > 0,
    `no guest boots, so nothing can verify IPIP here: ${KINDS.map((k) => `${k.name}: ${probes.get(k.name)?.detail}`).join('; ')}`,
  );
});

/** Host processes carrying a guest's tag, and its temp dirs: none may survive a run. */
async function leftovers(kind: GuestKind, name: string): Promise<string[]> {
  const dirs = (await readdir(tmpdir())).filter((d) => d.startsWith(`${kind.tempPrefix}${name}-`));
  const procs: string[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'latin1').catch(() => '');
    if (cmd.split('\0').some((a) => a.startsWith(kind.tagOf(`${name}-`)))) procs.push(`${e} ${cmd.replace(/\0/g, ' ').slice(0, 120)}`);
  }
  return [...dirs, ...procs];
}

/** Runs and then checks that the guest left nothing behind on the host. */
async function run(t: TestContext, kind: GuestKind, o: Partial<RunInGuestOptions> & { command: string[]; name: string }) {
  const lines: string[] = [];
  try {
    const r = await runInGuest(kind, { cwd: '/', timeoutMs: 180_000, onConsole: (l) => lines.push(l), ...o });
    return { ...r, lines };
  } finally {
    assert.deepEqual(await leftovers(kind, o.name), [], 'no guest process or temp dir may survive');
    t.diagnostic(`${o.name}: ${lines.length} console lines`);
  }
}

for (const kind of KINDS) {
  const probe = probes.get(kind.name)!;
  // How long a boot may take here before the command runs (TCG emulation is slow).
  const bootMs = kind.name === 'qemu' ? 40_000 : 12_000;
  describe(`${kind.name} guest runner`, { skip: ROOT_SKIP || (probe.ok ? false : `${kind.name}: ${probe.detail}`) }, () => {
    test('exit 0 propagates and stdout reaches the console', async (t) => {
      const r = await run(t, kind, {
        name: `cnilab-test-${kind.name}-ok`,
        command: ['sh', '-c', 'echo hello-from-guest; echo to-stderr >&2; exit 0'],
      });
      assert.equal(r.exitCode, 0);
      assert.ok(r.lines.includes('hello-from-guest'), 'onConsole got the line');
      assert.ok(r.lines.includes('to-stderr'), 'stderr is on the console too');
      assert.match(r.console, /^hello-from-guest$/m);
      assert.ok(!r.console.includes(EXIT_MARKER), 'the marker is not part of the console');
      t.diagnostic(`boot + run took ${r.durationMs} ms`);
    });

    test('exit 3 propagates; cwd and env are applied', async (t) => {
      const r = await run(t, kind, {
        name: `cnilab-test-${kind.name}-exit3`,
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
      const host = await mkdtemp(join(tmpdir(), 'cnilab-umltest-share-'));
      try {
        const r = await run(t, kind, {
          name: `cnilab-test-${kind.name}-share`,
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
      const r = await run(t, kind, { name: `cnilab-test-${kind.name}-ipip`, modules: ['ipip'], command: ['sh', '-c', script] });
      assert.equal(r.exitCode, 0, r.console);
      assert.ok(r.lines.includes('ALL-OK'), r.console);
      assert.match(r.console, /ipip (any )?remote 10\.0\.0\.2 local 10\.0\.0\.1/);
      assert.match(r.console, /tunl0@NONE/);
    });

    test('a command that never ends is killed at the timeout with GuestError, leaving nothing behind', async (t) => {
      const t0 = Date.now();
      await assert.rejects(
        // Long enough for a slow boot to reach the command (UML 3.4 s, qemu ~20 s on a loaded 2-core machine).
        run(t, kind, {
          name: `cnilab-test-${kind.name}-timeout`,
          timeoutMs: bootMs + 8_000,
          command: ['sh', '-c', 'echo sleeping-forever; exec sleep 100000'],
        }),
        (e: unknown) => {
          assert.ok(e instanceof GuestError, String(e));
          assert.equal(e.kind, 'timeout');
          assert.match(e.message, new RegExp(`timed out after ${bootMs + 8_000} ms`));
          assert.ok(e.consoleTail.includes('sleeping-forever'), e.message);
          return true;
        },
      );
      const took = Date.now() - t0;
      assert.ok(took < bootMs + 30_000, `took ${took} ms`);
    });

    test('an abort signal kills the guest with GuestError', async (t) => {
      const ac = new AbortController();
      const p = run(t, kind, {
        name: `cnilab-test-${kind.name}-abort`,
        signal: ac.signal,
        onConsole: (l) => {
          if (l === 'ready-to-abort') ac.abort();
        },
        command: ['sh', '-c', 'echo ready-to-abort; exec sleep 100000'],
      });
      await assert.rejects(p, (e: unknown) => e instanceof GuestError && e.kind === 'aborted');
    });

    test('a kernel panic in the guest is an GuestError with the console tail', async (t) => {
      await assert.rejects(
        run(t, kind, { name: `cnilab-test-${kind.name}-panic`, command: ['sh', '-c', 'echo c > /proc/sysrq-trigger'] }),
        (e: unknown) => {
          assert.ok(e instanceof GuestError, String(e));
          assert.equal(e.kind, 'crashed');
          assert.ok(e.consoleTail.length > 0 && e.consoleTail.length <= 40);
          assert.match(e.message, /Kernel panic/);
          return true;
        },
      );
    });

    test('a module that does not exist fails the setup, not the command', async (t) => {
      await assert.rejects(
        run(t, kind, { name: `cnilab-test-${kind.name}-nomod`, modules: ['no_such_module'], command: ['true'] }),
        (e: unknown) => e instanceof GuestError && e.kind === 'setup' && /modprobe no_such_module/.test(e.message),
      );
    });

    test('two guests run at the same time', async (t) => {
      const [a, b] = await Promise.all(
        ['a', 'b'].map((x) =>
          run(t, kind, {
            name: `cnilab-test-${kind.name}-par${x}`,
            command: ['sh', '-c', `echo guest-${x}; sleep 1; exit ${x === 'a' ? 0 : 5}`],
          }),
        ),
      );
      assert.equal(a?.exitCode, 0);
      assert.equal(b?.exitCode, 5);
      assert.ok(a?.lines.includes('guest-a') && !a.lines.includes('guest-b'));
      assert.ok(b?.lines.includes('guest-b') && !b.lines.includes('guest-a'));
    });
  });
}
