// Runs one command inside a User-Mode Linux guest: a 6.1 kernel that runs as an ordinary host
// process (Debian package `user-mode-linux`), with modules this host kernel lacks (ipip, netem).
//
// How a run works
//   host:  perl supervisor (own process group, PR_SET_PDEATHSIG, child subreaper)
//            └─ linux.uml (own process group; it forks helper processes and one host process
//               per guest process, all with `umid=<ours>` on their command line)
//   guest: init = <tmp>/init (stage 1, PID 1 on the host's / through hostfs, read-only)
//            loads overlay.ko, mounts tmpfs at /dev/.cnilab (devtmpfs is the only writable
//            place at that point), overlay lowerdir=/ upperdir=tmpfs, pivot_root into it
//          → <tmp>/stage2: fresh proc, sysfs, devtmpfs, devpts, /dev/shm, /run (tmpfs, with
//            /run/netns), /lib/modules/<ver> bound to the package's module tree, a modprobe
//            stand-in for the kernel's module autoloader, the requested modules, hostfs shares,
//            cd, `env -i` + PATH/HOME, the command, an exit marker with a per-run nonce,
//            `echo o > /proc/sysrq-trigger` (UML exits).
//   The guest sees the host's whole file system (read-only below, writes land in guest RAM),
//   so /usr/bin/node, /work/main/node_modules, tcpdump and bird are simply there.
//
// What was checked inside the guest (UML 6.1.176, Debian 6.1um4, on a 6.18 host; see
// test/uml.test.ts for the ones that run on every test pass):
//   yes  `ip netns add` / `ip netns exec` (/run is a tmpfs with /run/netns; /var/run -> /run is
//        the host's symlink; ip netns exec remounts /sys in its own mount namespace, works)
//   yes  veth pairs moved between namespaces, addresses, ping across them (veth autoloads)
//   yes  a bridge with veth ports (bridge autoloads, pulls in stp, llc, ipv6)
//   yes  `ip link add vx0 type vxlan id 1 dstport 4789 ...` (vxlan autoloads)
//   yes  `ip link add t0 type ipip ...` after modprobe ipip; tunl0 appears in every namespace
//   yes  `tc qdisc add dev X root netem delay 5ms` (sch_netem; autoloads too), ping shows it
//   yes  tcpdump -w into a hostfs share: the pcap is on the host afterwards, readable by tcpdump -r
//        (the file is owned by the `tcpdump` user on the host too: tcpdump drops privileges;
//        pass `-Z root` to keep it root's)
//   yes  node v20 from the host; `node --import tsx FILE.ts` and `npx tsx FILE.ts` for a file
//        inside /work/main (importing project modules and execa). `node --import tsx -e` with
//        TypeScript syntax fails exactly as on the host (tsx does not transform -e).
//   yes  bird (bird2) started in a guest netns with `-s /run/bird-a.ctl`; `birdc -s` answers
//   yes  /dev/net/tun (static node from modules.devname, tun.ko autoloads on open)
//   yes  guest processes, namespaces and mounts never touch the host: `ip netns add` inside
//        lands in the guest's /run tmpfs; writes outside shares vanish with the guest.
//   CPUs: 1 (UML 6.1 has no SMP); RAM: memMb (default 512).
//   Timing: the kernel reaches init ~1.1 s after start, the command starts at ~1.7 s guest
//   uptime; a whole run of `true` takes 1.75-2.2 s wall. Two guests in parallel: no slowdown.
//   Every guest syscall goes through ptrace: `node -e 0` ~0.4 s, things are ~4x slower.
//
// Pitfalls found on the way (and handled here)
//   - The host may have no kmod (no modprobe/insmod). The kernel's autoloader would then fail
//     for veth, bridge, vxlan, ipv6... stage 2 points /proc/sys/kernel/modprobe at a generated
//     sh+awk+perl stand-in that resolves names and aliases through modules.dep/modules.alias and
//     loads with finit_module(2). It is also what loads opts.modules.
//   - /sbin/poweroff and /sbin/halt are systemctl on Debian: useless without systemd. The sysrq
//     trigger works; a perl reboot(2) is the fallback.
//   - When init exits the kernel panics and linux.uml dies with SIGABRT (exit 134), so the exit
//     status of linux.uml says nothing: the marker is the only truth.
//   - Killing only the main linux.uml process leaves two helper processes polling forever;
//     the whole process group must go. The supervisor does that and reaps them (subreaper), and
//     a last sweep kills anything whose command line still carries our umid.
//   - The guest's /dev at boot is a devtmpfs mounted by the kernel; without it the host's /dev
//     (real device nodes!) would be visible through hostfs. Stage 2 mounts its own devtmpfs.
//   - Syscall numbers in the perl snippets are x86_64 (finit_module 313, reboot 169, prctl 157).
import { randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { access, chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export const UML_KERNEL = '/usr/bin/linux.uml';
export const UML_MODULES_ROOT = '/usr/lib/uml/modules';
const INSTALL_HINT = 'apt-get install -y user-mode-linux (Debian/Ubuntu, amd64)';

export type UmlFailure = 'timeout' | 'aborted' | 'crashed' | 'setup';

/** A guest that did not finish its command: timed out, aborted, crashed, or failed to set up. */
export class UmlError extends Error {
  constructor(
    readonly kind: UmlFailure,
    message: string,
    readonly consoleTail: readonly string[],
  ) {
    super(`${message}\n--- last ${consoleTail.length} console line(s) ---\n${consoleTail.join('\n')}`);
    this.name = 'UmlError';
  }
}

export interface UmlInstall {
  kernel: string;
  modulesDir: string;
  version: string;
}

/** Where linux.uml and its module tree are, or what to install. */
export async function findUml(): Promise<UmlInstall | { missing: string }> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return { missing: `User-Mode Linux runs here only on x86_64 Linux (this is ${process.platform}/${process.arch})` };
  }
  const kernel = process.env.CNILAB_UML_KERNEL || UML_KERNEL;
  if (!(await isExecutable(kernel))) return { missing: `${kernel} not found: ${INSTALL_HINT}` };
  let versions: string[];
  try {
    versions = (await readdir(UML_MODULES_ROOT)).sort();
  } catch {
    return { missing: `${UML_MODULES_ROOT} not found (the module tree of user-mode-linux): ${INSTALL_HINT}` };
  }
  let version = versions.length === 1 ? versions[0] : undefined;
  if (versions.length !== 1) {
    // Several trees (upgrade leftovers): ask the kernel which one is its own.
    const r = await execa(kernel, ['--version'], { reject: false, timeout: 10_000, stdin: 'ignore' });
    const v = String(r.stdout ?? '').trim().split(/\s+/).pop();
    version = v && versions.includes(v) ? v : versions.at(-1);
  }
  if (!version) return { missing: `${UML_MODULES_ROOT} is empty: ${INSTALL_HINT}` };
  const modulesDir = join(UML_MODULES_ROOT, version);
  if (!(await exists(join(modulesDir, 'modules.dep')))) {
    return { missing: `${modulesDir}/modules.dep not found (broken user-mode-linux install): apt-get install --reinstall user-mode-linux` };
  }
  for (const tool of ['perl', 'pivot_root', 'awk']) {
    if (!(await whichSbin(tool))) {
      return { missing: `${tool} not found on the host; the UML guest uses the host's tools (perl-base, util-linux, mawk)` };
    }
  }
  return { kernel, modulesDir, version };
}

export interface RunInUmlOptions {
  command: string[];
  cwd: string;
  env?: Record<string, string>;
  /** Read-write hostfs mounts, e.g. the results dir. */
  share?: { hostPath: string; guestPath: string }[];
  /** Guest RAM (default 512); the writable overlay lives in it too. */
  memMb?: number;
  /** For the whole run, boot included (~2 s). */
  timeoutMs: number;
  /** Loaded before the command, e.g. ['ipip', 'netem']. Others autoload on first use. */
  modules?: string[];
  /** Every console line as it arrives: kernel messages and the command's stdout+stderr. */
  onConsole?: (line: string) => void;
  /** Used in the umid and the temp dir name, e.g. cnilab-<lab>. */
  name: string;
  signal?: AbortSignal;
}

export interface RunInUmlResult {
  exitCode: number;
  /** Everything the guest console printed (kernel messages and the command's stdout+stderr), marker removed. */
  console: string;
  durationMs: number;
}

// ---------------------------------------------------------------------------------------------
// Pure parts (unit-tested without booting)

export const EXIT_MARKER = '@@CNILAB-UML-EXIT';
export const SETUP_MARKER = '@@CNILAB-UML-SETUP-FAILED';
const TAIL_LINES = 40;

/** POSIX sh single-quoting. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Name part usable in a umid and a file name: [A-Za-z0-9_.-], at most 32 characters. */
export function sanitizeName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[-.]+/, '').slice(0, 32);
  return s || 'uml';
}

/** The linux.uml argv (kernel command line). */
export function buildKernelArgs(o: { memMb: number; initPath: string; umlDir: string; umid: string }): string[] {
  return [
    `mem=${o.memMb}M`,
    'root=/dev/root',
    'rootfstype=hostfs',
    'rootflags=/',
    'ro',
    `init=${o.initPath}`,
    `uml_dir=${o.umlDir}`,
    `umid=${o.umid}`,
    // Every console and serial line nowhere, except the first console: stdin none, output to fd 1.
    'con=null',
    'ssl=null',
    'con0=null,fd:1',
    'quiet',
  ];
}

// finit_module(fd, "", 0); EEXIST (already loaded) counts as success.
const PERL_INSMOD = `open(my $f, "<", $ARGV[0]) or die "insmod $ARGV[0]: $!\\n"; my $a = ""; syscall(313, fileno($f), $a, 0) == 0 or $!{EEXIST} or die "insmod $ARGV[0]: $!\\n"`;
// reboot(LINUX_REBOOT_MAGIC1, MAGIC2, LINUX_REBOOT_CMD_POWER_OFF)
const PERL_POWEROFF = `syscall(169, 0xfee1dead, 672274793, 0x4321fedc, 0)`;

/**
 * A modprobe stand-in (the host may have no kmod): resolves a module name, or an alias such as
 * rtnl-link-veth / char-major-10-200 / net-pf-10, through modules.builtin, modules.dep and
 * modules.alias, then loads the dependencies first and the module last with finit_module(2).
 * A qdisc may be named without its sch_ prefix (netem -> sch_netem).
 * Accepts the kernel autoloader's `modprobe -q -- NAME` form; `-n` prints what it would load.
 */
export function buildModprobeScript(modulesDir: string): string {
  return `#!/bin/sh
# Generated by cnilab (harness/backends/uml/uml.ts): modprobe for the UML guest, no kmod needed.
D=${shellQuote(modulesDir)}
# The kernel's autoloader starts us with fds 0-2 closed; command substitution breaks without them.
# (\`true >&1\` is no test: dash treats >&1 as a no-op.)
exec </dev/null
[ -e /proc/self/fd/1 ] || exec >/dev/null
[ -e /proc/self/fd/2 ] || exec 2>/dev/kmsg || exec 2>/dev/null
q=0
n=0
rc=0
for a in "$@"; do
  case "$a" in
    -q|--quiet) q=1; continue ;;
    -n|--dry-run) n=1; continue ;;
    -*) continue ;;
  esac
  list=$(awk -v want="$a" '
    function norm(s) { gsub(/-/, "_", s); return s }
    function base(p,  b) { b = p; sub(/.*\\//, "", b); sub(/\\.ko(\\.(xz|gz|zst))?$/, "", b); return norm(b) }
    function gmatch(s, g,  n, seg, i, pos, k, last) {
      n = split(g, seg, "*")
      if (n == 1) return s == g
      if (substr(s, 1, length(seg[1])) != seg[1]) return 0
      pos = length(seg[1]) + 1
      for (i = 2; i < n; i++) {
        if (seg[i] == "") continue
        k = index(substr(s, pos), seg[i])
        if (k == 0) return 0
        pos += k - 1 + length(seg[i])
      }
      last = seg[n]
      if (length(s) - pos + 1 < length(last)) return 0
      return substr(s, length(s) - length(last) + 1) == last
    }
    function emit(p,  n, i, dl) {
      if (p in done) return
      done[p] = 1
      n = split(deps[p], dl, " ")
      for (i = n; i >= 1; i--) emit(dl[i])
      print p
    }
    FILENAME ~ /modules[.]builtin$/ { builtin[base($0)] = 1; next }
    FILENAME ~ /modules[.]dep$/ {
      p = $1; sub(/:$/, "", p); path[base(p)] = p
      d = $0; sub(/^[^:]*:[ ]*/, "", d); deps[p] = d
      next
    }
    FILENAME ~ /modules[.]alias$/ {
      if ($1 == "alias" && hit == "" && gmatch(want, $2)) hit = norm($3)
      next
    }
    END {
      w = norm(want)
      if (!(w in path) && !(w in builtin) && hit != "") w = hit
      if (!(w in path) && !(w in builtin) && (("sch_" w) in path)) w = "sch_" w
      if (w in builtin) { print "builtin"; exit 0 }
      if (!(w in path)) exit 1
      emit(path[w])
    }' "$D/modules.builtin" "$D/modules.dep" "$D/modules.alias")
  if [ $? -ne 0 ] || [ -z "$list" ]; then
    [ $q = 1 ] || echo "modprobe: module $a not found in $D" >&2
    rc=1
    continue
  fi
  for p in $list; do
    [ "$p" = builtin ] && { [ $n = 1 ] && echo "builtin $a"; continue; }
    [ $n = 1 ] && { echo "insmod $D/$p"; continue; }
    perl -e ${shellQuote(PERL_INSMOD)} "$D/$p" || { rc=1; break; }
  done
done
exit $rc
`;
}

export interface GuestScriptInput {
  nonce: string;
  /** Host dir holding init, stage2 and modprobe; the guest sees it at the same path. */
  dir: string;
  modulesDir: string;
  version: string;
  command: string[];
  cwd: string;
  env: Record<string, string>;
  share: { hostPath: string; guestPath: string }[];
  modules: string[];
}

export const DEFAULT_GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function commonPrelude(nonce: string): string {
  return `export PATH=/usr/sbin:/usr/bin:/sbin:/bin
NONCE=${nonce}
off() {
  sync
  echo o > /proc/sysrq-trigger 2>/dev/null
  sleep 3
  perl -e ${shellQuote(PERL_POWEROFF)}
  sleep 1000
}
fail() {
  echo
  echo "${SETUP_MARKER} $NONCE $*@@"
  off
}`;
}

/** Stage 1: PID 1 on the read-only hostfs root. Builds the writable overlay root and pivots into it. */
export function buildInitScript(i: GuestScriptInput): string {
  const modprobe = join(i.dir, 'modprobe');
  const stage2 = join(i.dir, 'stage2');
  return `#!/bin/sh
# Generated by cnilab (harness/backends/uml/uml.ts): UML guest init, stage 1.
${commonPrelude(i.nonce)}
mount -t proc proc /proc || fail "mount /proc"
# The kernel mounted a devtmpfs on /dev (writable); the host's / is read-only hostfs.
S=/dev/.cnilab
mkdir -p $S && mount -t tmpfs -o mode=0755 tmpfs $S || fail "tmpfs for the overlay"
mkdir -p $S/upper $S/work $S/root || fail "overlay dirs"
${shellQuote(modprobe)} overlay || fail "load overlay.ko"
mount -t overlay overlay -o lowerdir=/,upperdir=$S/upper,workdir=$S/work $S/root || fail "mount overlay root"
mkdir -p $S/root/.oldroot || fail "mkdir .oldroot"
cd $S/root || fail "cd new root"
pivot_root . .oldroot || fail "pivot_root"
exec chroot . ${shellQuote(stage2)} </dev/console >/dev/console 2>&1
fail "exec stage2"
`;
}

/** Stage 2: in the overlay root. Mounts, modules, shares, then the command and the exit marker. */
export function buildStage2Script(i: GuestScriptInput): string {
  const modprobe = join(i.dir, 'modprobe');
  const libModules = `/lib/modules/${i.version}`;
  const lines: string[] = [];
  lines.push(`#!/bin/sh
# Generated by cnilab (harness/backends/uml/uml.ts): UML guest init, stage 2.
${commonPrelude(i.nonce)}
mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
mkdir -p /dev/pts /dev/shm /dev/net
ln -sf /proc/self/fd /dev/fd; ln -sf fd/0 /dev/stdin; ln -sf fd/1 /dev/stdout; ln -sf fd/2 /dev/stderr
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts || fail "mount /dev/pts"
mount -t tmpfs -o mode=1777 tmpfs /dev/shm || fail "mount /dev/shm"
mount -t tmpfs -o mode=0755 tmpfs /run || fail "mount /run"
mkdir -p /run/netns /run/lock /run/user
umount -l /.oldroot && rmdir /.oldroot
mkdir -p ${shellQuote(libModules)} && mount --bind ${shellQuote(i.modulesDir)} ${shellQuote(libModules)} || fail "bind /lib/modules"
echo ${shellQuote(modprobe)} > /proc/sys/kernel/modprobe || fail "set kernel.modprobe"
# Device nodes whose open() autoloads a module (tun: /dev/net/tun).
grep -v '^#' ${shellQuote(i.modulesDir)}/modules.devname 2>/dev/null | while read -r mod node dev; do
  t=\${dev%%[0-9]*}; mm=\${dev#?}
  [ -e "/dev/$node" ] || { mkdir -p "$(dirname "/dev/$node")"; mknod "/dev/$node" "$t" "\${mm%%:*}" "\${mm#*:}"; }
done
echo cnilab-uml > /proc/sys/kernel/hostname
ip link set lo up 2>/dev/null`);
  for (const m of i.modules) {
    lines.push(`${shellQuote(modprobe)} ${shellQuote(m)} || fail ${shellQuote(`modprobe ${m}`)}`);
  }
  for (const s of i.share) {
    lines.push(
      `mkdir -p ${shellQuote(s.guestPath)} && mount -t hostfs none ${shellQuote(s.guestPath)} -o ${shellQuote(s.hostPath)} || fail ${shellQuote(`share ${s.hostPath} at ${s.guestPath}`)}`,
    );
  }
  lines.push(`cd ${shellQuote(i.cwd)} || fail ${shellQuote(`cd ${i.cwd}`)}`);
  const env = Object.entries(i.env).map(([k, v]) => shellQuote(`${k}=${v}`));
  lines.push(`env -i ${env.join(' ')} ${i.command.map(shellQuote).join(' ')} </dev/null`);
  lines.push(`code=$?
sync
echo
echo "${EXIT_MARKER} $NONCE $code@@"
off
`);
  return lines.join('\n');
}

/** The command's exit status from the console, or undefined when the marker never came. */
export function parseExitMarker(console: string, nonce: string): number | undefined {
  const re = new RegExp(`${escapeRe(EXIT_MARKER)} ${escapeRe(nonce)} (\\d+)@@`, 'g');
  let code: number | undefined;
  for (const m of console.matchAll(re)) code = Number(m[1]);
  return code;
}

/** The failed setup step, when the guest init reported one. */
export function parseSetupFailure(console: string, nonce: string): string | undefined {
  const m = new RegExp(`${escapeRe(SETUP_MARKER)} ${escapeRe(nonce)} (.*)@@`).exec(console);
  return m?.[1];
}

function isMarkerLine(line: string, nonce: string): boolean {
  return line.startsWith(`${EXIT_MARKER} ${nonce} `) || line.startsWith(`${SETUP_MARKER} ${nonce} `);
}

/** Splits a byte stream into lines; strips the CR the guest tty adds. */
export class LineSplitter {
  private rest = '';
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: string): void {
    const parts = (this.rest + chunk).split('\n');
    this.rest = parts.pop() ?? '';
    for (const p of parts) this.onLine(p.replace(/\r+$/, '').replace(/\r/g, ''));
  }
  flush(): void {
    if (this.rest) this.onLine(this.rest.replace(/\r/g, ''));
    this.rest = '';
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------
// Host-side process supervision

// Runs linux.uml in its own process group; on SIGTERM/SIGINT/SIGHUP, on our parent's death
// (PR_SET_PDEATHSIG) and after the main process exits, SIGKILLs that group and reaps every
// member (PR_SET_CHILD_SUBREAPER: UML's helpers outlive the main process and get reparented
// to us). Exits with linux.uml's status.
const SUPERVISOR = `
use strict; use POSIX ();
my $parent = getppid();
syscall(157, 36, 1, 0, 0, 0);   # prctl(PR_SET_CHILD_SUBREAPER, 1)
syscall(157, 1, 15, 0, 0, 0);   # prctl(PR_SET_PDEATHSIG, SIGTERM)
exit 125 if getppid() != $parent;
my $pid = fork();
die "fork: $!\\n" unless defined $pid;
if ($pid == 0) { setpgrp(0, 0); exec { $ARGV[0] } @ARGV; print STDERR "exec $ARGV[0]: $!\\n"; POSIX::_exit(127); }
setpgrp($pid, $pid);
my $kill = sub { kill 'KILL', -$pid; kill 'KILL', $pid; };
$SIG{TERM} = $SIG{INT} = $SIG{HUP} = $kill;
my $st;
while (1) { my $r = waitpid($pid, 0); if ($r == $pid) { $st = $?; last } last if $r == -1 && !$!{EINTR}; }
$kill->();
while (1) { my $r = waitpid(-1, 0); last if $r == -1 && !$!{EINTR}; }
$st //= 255 << 8;
exit(($st & 127) ? 128 + ($st & 127) : ($st >> 8));
`;

const inFlight = new Set<AbortController>();
const TEMP_PREFIX = 'cnilab-uml-';

/**
 * Removes temp dirs of runs that are gone (their harness was killed before it could clean up:
 * the guest itself dies with its harness, the dir does not). A dir counts as stale when no
 * process carries its umid and it is older than minAgeMs. Returns the removed paths.
 */
export async function cleanupStaleUml(opts: { minAgeMs?: number } = {}): Promise<string[]> {
  const minAge = opts.minAgeMs ?? 60_000;
  const removed: string[] = [];
  for (const e of await readdir(tmpdir()).catch(() => [] as string[])) {
    const m = new RegExp(`^${TEMP_PREFIX}(.+-[0-9a-f]{6})-[A-Za-z0-9]{6}$`).exec(e);
    if (!m?.[1]) continue;
    const path = join(tmpdir(), e);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isDirectory() || Date.now() - st.mtimeMs < minAge) continue;
    if ((await pidsWithUmid(m[1])).length) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

/** Kills every UML guest in flight (for a Ctrl-C handler); their runInUml calls reject with UmlError. */
export function cancelAllUml(): void {
  for (const c of inFlight) c.abort();
}

/** Host pids of processes whose command line carries `umid=<umid>`. */
async function pidsWithUmid(umid: string): Promise<number[]> {
  const needle = `umid=${umid}`;
  const out: number[] = [];
  for (const e of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'latin1').catch(() => '');
    if (cmd.split('\0').includes(needle)) out.push(Number(e));
  }
  return out;
}

/** SIGKILLs every process with our umid until none is left (zombies count: they still show in pgrep). */
async function sweep(umid: string, deadlineMs = 10_000): Promise<number[]> {
  const t0 = Date.now();
  let left = await pidsWithUmid(umid);
  while (left.length && Date.now() - t0 < deadlineMs) {
    for (const p of left) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sleep(50);
    left = await pidsWithUmid(umid);
  }
  return left;
}

export async function runInUml(opts: RunInUmlOptions): Promise<RunInUmlResult> {
  const t0 = Date.now();
  if (!opts.command.length) throw new Error('runInUml: empty command');
  if (!opts.cwd.startsWith('/')) throw new Error(`runInUml: cwd must be absolute: ${opts.cwd}`);
  if (opts.memMb !== undefined && !(Number.isInteger(opts.memMb) && opts.memMb >= 64)) throw new Error(`runInUml: memMb must be an integer >= 64, got ${opts.memMb}`);
  const found = await findUml();
  if ('missing' in found) throw new UmlError('setup', `User-Mode Linux is not available: ${found.missing}`, []);
  for (const k of Object.keys(opts.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`runInUml: bad environment variable name ${JSON.stringify(k)}`);
  }
  for (const s of opts.share ?? []) {
    if (!s.guestPath.startsWith('/') || !s.hostPath.startsWith('/')) throw new Error(`runInUml: share paths must be absolute: ${s.hostPath} -> ${s.guestPath}`);
    if (!(await stat(s.hostPath).then((x) => x.isDirectory(), () => false))) throw new Error(`runInUml: share ${s.hostPath} is not a directory`);
  }

  const name = sanitizeName(opts.name);
  const nonce = randomBytes(8).toString('hex');
  const umid = `${name}-${nonce.slice(0, 6)}`;
  // /tmp: the guest sees the host's /tmp through the overlay, so the scripts are visible there.
  const dir = await mkdtemp(join(tmpdir(), `${TEMP_PREFIX}${umid}-`));
  const control = new AbortController();
  inFlight.add(control);
  const onAbort = () => control.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) control.abort();

  const lines: string[] = [];
  let exitSeenAt: number | undefined;
  try {
    const input: GuestScriptInput = {
      nonce,
      dir,
      modulesDir: found.modulesDir,
      version: found.version,
      command: opts.command,
      cwd: opts.cwd,
      env: { PATH: DEFAULT_GUEST_PATH, HOME: '/root', USER: 'root', LOGNAME: 'root', TERM: 'dumb', ...opts.env },
      share: opts.share ?? [],
      modules: opts.modules ?? [],
    };
    await writeExec(join(dir, 'modprobe'), buildModprobeScript(found.modulesDir));
    await writeExec(join(dir, 'stage2'), buildStage2Script(input));
    await writeExec(join(dir, 'init'), buildInitScript(input));
    const args = buildKernelArgs({ memMb: opts.memMb ?? 512, initPath: join(dir, 'init'), umlDir: join(dir, 'uml'), umid });

    if (control.signal.aborted) throw new UmlError('aborted', `UML guest ${umid} aborted before boot`, []);

    const sup = execa('perl', ['-e', SUPERVISOR, found.kernel, ...args], {
      stdin: 'ignore',
      buffer: false,
      reject: false,
      detached: true, // terminal Ctrl-C goes to us; the supervisor dies with us through PDEATHSIG
      extendEnv: false,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir },
      forceKillAfterDelay: 5_000,
    });
    const onLine = (line: string) => {
      lines.push(line);
      if (isMarkerLine(line, nonce)) {
        if (line.startsWith(EXIT_MARKER)) exitSeenAt ??= Date.now();
        return;
      }
      try {
        opts.onConsole?.(line);
      } catch {
        /* a failing console callback must not break the run */
      }
    };
    // The guest console is linux.uml's stdout; its stderr carries only host-side complaints.
    const outLines = new LineSplitter(onLine);
    const errLines = new LineSplitter(onLine);
    sup.stdout?.setEncoding('utf8').on('data', (c: string) => outLines.push(c));
    sup.stderr?.setEncoding('utf8').on('data', (c: string) => errLines.push(c));

    let why: 'timeout' | 'aborted' | undefined;
    const stop = (w: 'timeout' | 'aborted') => {
      if (why) return;
      why = w;
      sup.kill('SIGTERM');
    };
    const timer = setTimeout(() => stop('timeout'), opts.timeoutMs);
    const onStop = () => stop('aborted');
    control.signal.addEventListener('abort', onStop, { once: true });
    // After the marker UML powers off by itself; if it does not within 15 s, end it (result kept).
    const grace = setInterval(() => {
      if (exitSeenAt !== undefined && Date.now() - exitSeenAt > 15_000) sup.kill('SIGTERM');
    }, 500);
    try {
      await sup;
    } finally {
      clearTimeout(timer);
      clearInterval(grace);
      control.signal.removeEventListener('abort', onStop);
      outLines.flush();
      errLines.flush();
    }
    const left = await sweep(umid);
    const text = lines.join('\n');
    const tail = lines.filter((l) => !isMarkerLine(l, nonce)).slice(-TAIL_LINES);
    if (left.length) {
      throw new UmlError('crashed', `UML guest ${umid}: host processes ${left.join(', ')} would not die`, tail);
    }
    const code = parseExitMarker(text, nonce);
    if (code !== undefined) {
      return { exitCode: code, console: lines.filter((l) => !isMarkerLine(l, nonce)).join('\n'), durationMs: Date.now() - t0 };
    }
    if (why === 'timeout') {
      throw new UmlError('timeout', `UML guest ${umid} timed out after ${opts.timeoutMs} ms running ${opts.command.join(' ')}; killed it`, tail);
    }
    if (why === 'aborted') throw new UmlError('aborted', `UML guest ${umid} aborted; killed it`, tail);
    const setup = parseSetupFailure(text, nonce);
    if (setup !== undefined) throw new UmlError('setup', `UML guest ${umid}: setup failed: ${setup}`, tail);
    throw new UmlError('crashed', `UML guest ${umid} ended without an exit marker (crash or kernel panic)`, tail);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    inFlight.delete(control);
    // Processes first (their uml_dir is in here), then the files.
    await sweep(umid).catch(() => []);
    await rm(dir, { recursive: true, force: true });
  }
}

async function writeExec(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o755 });
  await chmod(path, 0o755);
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(() => true, () => false);
}

async function isExecutable(p: string): Promise<boolean> {
  return access(p, fsc.X_OK).then(() => true, () => false);
}

async function whichSbin(tool: string): Promise<string | undefined> {
  for (const d of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (await isExecutable(join(d, tool))) return join(d, tool);
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
