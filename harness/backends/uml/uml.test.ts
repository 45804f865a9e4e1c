// Pure parts of the UML runner: no guest is booted here. The generated shell scripts are checked
// with `sh -n`, and the modprobe stand-in runs in dry-run mode against a fake module tree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { GuestError } from '../../errors.ts';
import { shellQuote } from '../../net/shell.ts';
import { EXIT_MARKER, LineSplitter, SETUP_MARKER, parseExitMarker, parseSetupFailure, sanitizeName } from '../guest/console.ts';
import { DEFAULT_GUEST_PATH } from '../guest/runner.ts';
import { reapGuests } from '../guest/supervisor.ts';
import {
  buildInitScript,
  buildKernelArgs,
  buildModprobeScript,
  buildStage2Script,
  explainUml,
  umlGuest,
  type GuestScriptInput,
} from './guest.ts';

const input: GuestScriptInput = {
  nonce: '0123456789abcdef',
  dir: '/tmp/cnilab-uml-lab1-AbCdEf',
  modulesDir: '/usr/lib/uml/modules/6.1.176',
  version: '6.1.176',
  command: ['node', '--import', 'tsx', "it's a file.ts", '$HOME'],
  cwd: '/work/main',
  env: { PATH: DEFAULT_GUEST_PATH, HOME: '/root', WEIRD: "a 'b' $c" },
  share: [{ hostPath: '/tmp/results dir', guestPath: '/mnt/out' }],
  modules: ['ipip', 'netem'],
};

async function shSyntaxOk(script: string): Promise<void> {
  const r = await execa('sh', ['-n'], { input: script, reject: false });
  assert.equal(r.exitCode, 0, `sh -n failed: ${r.stderr}`);
}

test('shellQuote leaves plain words alone and single-quotes the rest', async () => {
  assert.equal(shellQuote('/work/main'), '/work/main');
  assert.equal(shellQuote('a b'), `'a b'`);
  assert.equal(shellQuote(`it's`), `'it'\\''s'`);
  assert.equal(shellQuote(''), `''`);
  // Round trip through a real shell.
  const words = ['a b', `it's`, '$HOME', '`x`', 'back\\slash', '*', '', 'new\nline'];
  const r = await execa('sh', ['-c', `printf '%s\\0' ${words.map(shellQuote).join(' ')}`]);
  assert.deepEqual(r.stdout.split('\0').slice(0, -1), words);
});

test('sanitizeName keeps umid-safe characters and bounds the length', () => {
  assert.equal(sanitizeName('cnilab-lab1'), 'cnilab-lab1');
  assert.equal(sanitizeName('a b/c'), 'a-b-c');
  assert.equal(sanitizeName('../x'), 'x');
  assert.equal(sanitizeName('///'), 'guest');
  assert.equal(sanitizeName('x'.repeat(100)).length, 32);
});

test('kernel command line: hostfs root read-only, init, uml_dir, umid, console on fd 1', () => {
  const args = buildKernelArgs({ memMb: 384, initPath: '/tmp/d/init', umlDir: '/tmp/d/uml', umid: 'lab1-abc123' });
  assert.deepEqual(args.slice(0, 5), ['mem=384M', 'root=/dev/root', 'rootfstype=hostfs', 'rootflags=/', 'ro']);
  assert.ok(args.includes('init=/tmp/d/init'));
  assert.ok(args.includes('uml_dir=/tmp/d/uml'));
  assert.ok(args.includes('umid=lab1-abc123'));
  assert.ok(args.includes('con=null'));
  assert.ok(args.includes('con0=null,fd:1'));
});

test('stage 1 builds an overlay over the hostfs root and pivots into it', async () => {
  const s = buildInitScript(input);
  assert.match(s, /^#!\/bin\/sh\n/);
  assert.ok(s.includes('/tmp/cnilab-uml-lab1-AbCdEf/modprobe overlay'));
  assert.ok(s.includes('mount -t overlay overlay -o lowerdir=/,upperdir=$S/upper,workdir=$S/work $S/root'));
  assert.ok(s.includes('pivot_root . .oldroot'));
  assert.ok(s.includes('exec chroot . /tmp/cnilab-uml-lab1-AbCdEf/stage2'));
  assert.ok(s.includes(`${SETUP_MARKER} $NONCE`));
  assert.ok(s.includes('NONCE=0123456789abcdef'));
  await shSyntaxOk(s);
});

test('stage 2 mounts, loads modules, shares, cds, runs the command and prints the marker', async () => {
  const s = buildStage2Script(input);
  for (const want of [
    'mount -t proc proc /proc',
    'mount -t sysfs sysfs /sys',
    'mount -t devtmpfs devtmpfs /dev',
    'mount -t tmpfs -o mode=0755 tmpfs /run',
    'mkdir -p /run/netns',
    'mount --bind /usr/lib/uml/modules/6.1.176 /lib/modules/6.1.176',
    'MP=/tmp/cnilab-uml-lab1-AbCdEf/modprobe',
    'for m in /usr/sbin/modprobe /sbin/modprobe; do [ -x "$m" ] && { MP=$m; break; }; done',
    'echo "$MP" > /proc/sys/kernel/modprobe',
    `"$MP" ipip || fail 'modprobe ipip'`,
    `"$MP" netem || fail 'modprobe netem'`,
    `mount -t hostfs none /mnt/out -o '/tmp/results dir'`,
    'cd /work/main ||',
    `env -i PATH=${DEFAULT_GUEST_PATH} HOME=/root 'WEIRD=a '\\''b'\\'' $c' node --import tsx 'it'\\''s a file.ts' '$HOME' </dev/null`,
    `echo "${EXIT_MARKER} $NONCE $code@@"`,
    'echo o > /proc/sysrq-trigger',
  ]) {
    assert.ok(s.includes(want), `stage2 lacks: ${want}\n${s}`);
  }
  // Order: modules before shares before cd before the command.
  const at = (x: string) => s.indexOf(x);
  assert.ok(
    at('modprobe ipip') < at('mount -t hostfs') && at('mount -t hostfs') < at('cd /work/main') && at('cd /work/main') < at('env -i'),
  );
  await shSyntaxOk(s);
});

test('modprobe stand-in is valid sh and resolves names, aliases, sch_ qdiscs, deps first (dry run)', async () => {
  await shSyntaxOk(buildModprobeScript('/x'));
  const dir = await mkdtemp(join(tmpdir(), 'cnilab-uml-unit-'));
  try {
    await writeFile(
      join(dir, 'modules.dep'),
      [
        'kernel/net/ipv4/ipip.ko: kernel/net/ipv4/tunnel4.ko kernel/net/ipv4/ip_tunnel.ko',
        'kernel/net/ipv4/tunnel4.ko:',
        'kernel/net/ipv4/ip_tunnel.ko:',
        'kernel/net/sched/sch_netem.ko:',
        'kernel/drivers/net/veth.ko:',
        'kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko',
        'kernel/net/802/stp.ko: kernel/net/llc/llc.ko',
        'kernel/net/llc/llc.ko:',
        'kernel/drivers/net/tun.ko:',
        'kernel/net/foo-bar.ko:',
        'kernel/drivers/net/e1000.ko:',
        '',
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'modules.alias'),
      [
        '# Aliases',
        'alias rtnl-link-veth veth',
        'alias char-major-10-200 tun',
        'alias pci:v00008086d*sv*sd*bc02sc*i* e1000',
        'alias rtnl-link-bridge bridge',
        '',
      ].join('\n'),
    );
    await writeFile(join(dir, 'modules.builtin'), 'kernel/net/unix/unix.ko\n');
    const mp = join(dir, 'modprobe');
    await writeFile(mp, buildModprobeScript(dir), { mode: 0o755 });
    const dry = async (...names: string[]) => {
      const r = await execa('sh', [mp, '-n', ...names], { reject: false });
      return {
        code: r.exitCode,
        lines: r.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => l.replace(`${dir}/`, '')),
        stderr: r.stderr,
      };
    };
    assert.deepEqual((await dry('ipip')).lines, [
      'insmod kernel/net/ipv4/ip_tunnel.ko',
      'insmod kernel/net/ipv4/tunnel4.ko',
      'insmod kernel/net/ipv4/ipip.ko',
    ]);
    assert.deepEqual((await dry('netem')).lines, ['insmod kernel/net/sched/sch_netem.ko']);
    assert.deepEqual((await dry('rtnl-link-bridge')).lines, [
      'insmod kernel/net/llc/llc.ko',
      'insmod kernel/net/802/stp.ko',
      'insmod kernel/net/bridge/bridge.ko',
    ]);
    assert.deepEqual((await dry('-q', '--', 'rtnl-link-veth')).lines, ['insmod kernel/drivers/net/veth.ko']);
    assert.deepEqual((await dry('char-major-10-200')).lines, ['insmod kernel/drivers/net/tun.ko']);
    assert.deepEqual((await dry('foo_bar')).lines, ['insmod kernel/net/foo-bar.ko']);
    assert.deepEqual((await dry('pci:v00008086d0000100Esv1sd2bc02sc00i00')).lines, ['insmod kernel/drivers/net/e1000.ko']); // glob alias
    assert.equal((await dry('pci:v00008086d0000100Esv1sd2bc03sc00i00')).code, 1);
    assert.deepEqual((await dry('unix')).lines, ['builtin unix']);
    const missing = await dry('nosuch');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /module nosuch not found/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('parseExitMarker: needs our nonce, takes the last one, tolerates CR', () => {
  const n = 'feedface00112233';
  assert.equal(parseExitMarker('hello\n', n), undefined);
  assert.equal(parseExitMarker(`x\n${EXIT_MARKER} ${n} 0@@\n`, n), 0);
  assert.equal(parseExitMarker(`x\r\n${EXIT_MARKER} ${n} 3@@\r\n`, n), 3);
  assert.equal(parseExitMarker(`${EXIT_MARKER} deadbeef00000000 7@@\n`, n), undefined, 'a forged marker without the nonce is ignored');
  assert.equal(parseExitMarker(`${EXIT_MARKER} ${n} 1@@\n${EXIT_MARKER} ${n} 255@@\n`, n), 255);
  assert.equal(parseExitMarker(`${EXIT_MARKER} ${n} @@\n`, n), undefined);
});

test('parseSetupFailure names the failed step', () => {
  const n = 'feedface00112233';
  assert.equal(parseSetupFailure(`boot\n${SETUP_MARKER} ${n} modprobe ipip@@\n`, n), 'modprobe ipip');
  assert.equal(parseSetupFailure('boot\n', n), undefined);
});

test('LineSplitter joins chunks, strips CR, flushes the tail', () => {
  const got: string[] = [];
  const s = new LineSplitter((l) => got.push(l));
  s.push('he');
  s.push('llo\r\nwor');
  s.push('ld\r\n\r\nlast');
  assert.deepEqual(got, ['hello', 'world', '']);
  s.flush();
  assert.deepEqual(got, ['hello', 'world', '', 'last']);
});

test('GuestError carries kind and console tail in its message', () => {
  const e = new GuestError('timeout', 'timed out after 3000 ms', ['a', 'b']);
  assert.equal(e.name, 'GuestError');
  assert.equal(e.kind, 'timeout');
  assert.deepEqual(e.consoleTail, ['a', 'b']);
  assert.match(e.message, /timed out after 3000 ms\n--- last 2 console line\(s\) ---\na\nb$/);
});

test('the UML FPU panic is explained in one line; other panics by their panic line', () => {
  const panic = [
    'Linux version 6.1.176',
    'userspace - ptrace set fp regs failed, errno = 14',
    'Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b',
  ];
  assert.equal(explainUml(panic), 'uml guest panicked before init: ptrace set fp regs failed (host CPU XSAVE area too large for UML 6.1)');
  assert.equal(
    explainUml(['Kernel panic - not syncing: VFS: Unable to mount root fs']),
    'Kernel panic - not syncing: VFS: Unable to mount root fs',
  );
  assert.equal(explainUml(['all fine']), undefined);
});

test('stale guest temp dirs are removed without a live guest; fresh ones are kept', async () => {
  const cleanupStaleUml = async (o: { minAgeMs: number }) => (await reapGuests(umlGuest, o)).map((l) => l.replace(/^uml temp dir /, ''));
  const { mkdir, utimes, stat } = await import('node:fs/promises');
  const old = join(tmpdir(), 'cnilab-uml-unittest-stale-abc123-Xy12Zq');
  const fresh = join(tmpdir(), 'cnilab-uml-unittest-fresh-abc123-Xy12Zq');
  await mkdir(join(old, 'uml'), { recursive: true });
  await mkdir(fresh, { recursive: true });
  try {
    const past = new Date(Date.now() - 3_600_000);
    await utimes(old, past, past);
    const removed = await cleanupStaleUml({ minAgeMs: 60_000 });
    assert.ok(removed.includes(old));
    assert.ok(!removed.includes(fresh));
    assert.equal(
      await stat(old).then(
        () => true,
        () => false,
      ),
      false,
    );
    assert.equal(
      await stat(fresh).then(
        () => true,
        () => false,
      ),
      true,
    );
  } finally {
    await rm(old, { recursive: true, force: true });
    await rm(fresh, { recursive: true, force: true });
  }
});

test("a guest's failed setup never runs the job, even when power-off did not stop its shell (off returned)", async () => {
  const { spawnSync } = await import('node:child_process');
  const { shellPrelude } = await import('../guest/console.ts');
  // off() stands in for a power-off that took the root away: its sleeps return at once.
  const script = `${shellPrelude('n0nce')}\noff() { :; }\nfail "modprobe x"\necho "the job ran"\n`;
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /@@CNILAB-GUEST-SETUP-FAILED n0nce modprobe x@@/);
  assert.doesNotMatch(r.stdout, /the job ran/);
});
