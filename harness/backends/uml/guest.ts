// The User-Mode Linux guest kind: a 6.1 kernel that runs as an ordinary host
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
import { constants as fsc } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../kernel/exec.ts';
import { shellQuote } from '../../net/shell.ts';
import { shellPrelude } from '../guest/console.ts';
import { writeExec, type GuestJob, type GuestKind } from '../guest/runner.ts';
import { buildModprobeScript, guestStage2, type GuestScriptInput } from '../guest/stage2.ts';
import { UnsupportedError } from '../../errors.ts';

export { buildModprobeScript, type GuestScriptInput };

export const UML_KERNEL = '/usr/bin/linux.uml';
export const UML_MODULES_ROOT = '/usr/lib/uml/modules';
const INSTALL_HINT = 'apt-get install -y user-mode-linux (Debian/Ubuntu, amd64)';

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
    const r = await run([kernel, '--version'], { reject: false, timeoutMs: 10_000, op: 'linux.uml --version' });
    const v = String(r.stdout ?? '')
      .trim()
      .split(/\s+/)
      .pop();
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

/** Stage 1: PID 1 on the read-only hostfs root. Builds the writable overlay root and pivots into it. */
export function buildInitScript(i: GuestScriptInput): string {
  const modprobe = join(i.dir, 'modprobe');
  const stage2 = join(i.dir, 'stage2');
  return `#!/bin/sh
# Generated by cnilab (harness/backends/uml/guest.ts): UML guest init, stage 1.
${shellPrelude(i.nonce)}
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
/** Stage 2: in the overlay root; shares are hostfs mounts of the host folders. */
export const buildStage2Script = (i: GuestScriptInput) =>
  guestStage2(i, {
    kind: 'uml',
    mountShare: (s) => `mount -t hostfs none ${shellQuote(s.guestPath)} -o ${shellQuote(s.hostPath)}`,
  });

/** The UML panic seen on hosts whose CPUs have a large XSAVE area, in one line (guests.md). */
export function explainUml(lines: readonly string[]): string | undefined {
  if (lines.some((l) => /ptrace set fp regs failed/.test(l))) {
    return 'uml guest panicked before init: ptrace set fp regs failed (host CPU XSAVE area too large for UML 6.1)';
  }
  const panic = lines.find((l) => /Kernel panic/.test(l));
  return panic?.trim();
}

export const umlGuest: GuestKind = {
  name: 'uml',
  tempPrefix: 'cnilab-uml-',
  tagOf: (id) => `umid=${id}`,
  async find() {
    const u = await findUml();
    return 'missing' in u ? u : { ok: true };
  },
  async identity() {
    const u = await findUml();
    if ('missing' in u) return 'missing';
    const st = await stat(u.kernel);
    return `${u.kernel}:${st.size}:${st.mtimeMs}|${u.version}`;
  },
  async prepare(job: GuestJob) {
    const found = await findUml();
    if ('missing' in found) throw new UnsupportedError(found.missing);
    const input: GuestScriptInput = { ...job, modulesDir: found.modulesDir, version: found.version };
    await writeExec(join(job.dir, 'modprobe'), buildModprobeScript(found.modulesDir));
    await writeExec(join(job.dir, 'stage2'), buildStage2Script(input));
    await writeExec(join(job.dir, 'init'), buildInitScript(input));
    return [
      found.kernel,
      ...buildKernelArgs({ memMb: job.memMb, initPath: join(job.dir, 'init'), umlDir: join(job.dir, 'uml'), umid: job.id }),
    ];
  },
  explain: explainUml,
};

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

async function isExecutable(p: string): Promise<boolean> {
  return access(p, fsc.X_OK).then(
    () => true,
    () => false,
  );
}

async function whichSbin(tool: string): Promise<string | undefined> {
  for (const d of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (await isExecutable(join(d, tool))) return join(d, tool);
  }
  return undefined;
}
