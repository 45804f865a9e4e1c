// The qemu guest kind: Debian's own kernel under qemu without KVM (TCG: pure emulation, boots on
// any host CPU, including those whose XSAVE area breaks UML), the host's root read-only over 9p
// with a tmpfs overlay (stage 1 in the initramfs, kernel.ts), then the shared stage 2. Shares are
// 9p mounts with cache=none, so the host's writes (the agent's requests) are seen at once.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { shellQuote } from '../../net/shell.ts';
import { writeExec, type GuestJob, type GuestKind } from '../guest/runner.ts';
import { buildModprobeScript, guestStage2 } from '../guest/stage2.ts';
import { findQemuKernel } from './kernel.ts';
import { UnsupportedError } from '../../errors.ts';

/** Emulated CPUs: two, so the agent and the data path do not queue on one (each is a busy host thread). */
export const QEMU_CPUS = 2;

export const QEMU = '/usr/bin/qemu-system-x86_64';
/** qboot starts a -kernel in a fraction of SeaBIOS's time. */
const QBOOT = '/usr/share/qemu/qboot.rom';

const qemuBinary = () => process.env.CNILAB_QEMU || QEMU;

export function qemuArgs(o: {
  qemu: string;
  vmlinuz: string;
  initramfs: string;
  memMb: number;
  cpus: number;
  append: string;
  shares: string[];
  tag: string;
  bios?: string;
}): string[] {
  return [
    o.qemu,
    '-accel',
    'tcg,thread=multi',
    '-cpu',
    'max',
    '-smp',
    String(o.cpus),
    '-m',
    `${o.memMb}M`,
    '-nographic',
    '-no-reboot',
    ...(o.bios ? ['-bios', o.bios] : []),
    '-kernel',
    o.vmlinuz,
    '-initrd',
    o.initramfs,
    '-append',
    o.append,
    '-virtfs',
    'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    ...o.shares.flatMap((p, k) => ['-virtfs', `local,path=${p},mount_tag=share${k},security_model=none,multidevs=remap`]),
    '-name',
    o.tag,
  ];
}

/** The one console line that says why a qemu guest did not run its job. */
export function explainQemu(lines: readonly string[]): string | undefined {
  const q = lines.find((l) => /^qemu-system-x86_64: /.test(l));
  if (q) return q.trim();
  return lines.find((l) => /Kernel panic/.test(l))?.trim();
}

export const qemuGuest: GuestKind = {
  name: 'qemu',
  tempPrefix: 'cnilab-qemu-',
  tagOf: (id) => `cnilab-qemu-${id}`,
  async find() {
    if (process.arch !== 'x64') return { missing: `the qemu guest runs an amd64 kernel; this is ${process.arch}` };
    if (!existsSync(qemuBinary())) return { missing: `${qemuBinary()} not found: apt-get install qemu-system-x86` };
    const k = findQemuKernel();
    return 'missing' in k ? k : { ok: true };
  },
  async identity() {
    const k = findQemuKernel();
    const st = existsSync(qemuBinary()) ? statSync(qemuBinary()) : undefined;
    return `${qemuBinary()}:${st?.size}:${st?.mtimeMs}|${'missing' in k ? 'no-kernel' : k.dir}`;
  },
  async prepare(job: GuestJob) {
    const k = findQemuKernel();
    if ('missing' in k) throw new UnsupportedError(k.missing);
    const input = { ...job, modulesDir: k.modulesDir, version: k.release };
    await writeExec(join(job.dir, 'modprobe'), buildModprobeScript(k.modulesDir));
    const stage2 = guestStage2(input, {
      kind: 'qemu',
      mountShare: (_s, i) => `mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=none share${i} ${shellQuote(_s.guestPath)}`,
    });
    await writeExec(join(job.dir, 'stage2'), stage2);
    const append = `console=ttyS0 panic=-1 quiet cnilab.nonce=${job.nonce} cnilab.stage2=${join(job.dir, 'stage2')}`;
    return qemuArgs({
      qemu: qemuBinary(),
      vmlinuz: k.vmlinuz,
      initramfs: k.initramfs,
      memMb: job.memMb,
      cpus: QEMU_CPUS,
      append,
      shares: job.share.map((s) => s.hostPath),
      tag: this.tagOf(job.id),
      ...(existsSync(QBOOT) ? { bios: QBOOT } : {}),
    });
  },
  explain: explainQemu,
};
