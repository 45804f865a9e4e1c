// The qemu backend: like uml, a guest with its own kernel running the cnilab agent, but a full
// Debian kernel under qemu's TCG emulation, which boots on every host CPU. Slower than UML where
// UML boots, so `auto` tries it after uml. Its timings are not comparable with the host's.
import { modeNeeds, toolsOnly } from '../../host/doctor.ts';
import type { Backend } from '../backend.ts';
import { probeBoot } from '../guest/probe.ts';
import { GuestSession } from '../guest/session.ts';
import { reapGuests } from '../guest/supervisor.ts';
import { QEMU_CPUS, qemuGuest } from './guest.ts';

export const qemuBackend: Backend = {
  name: 'qemu',
  comparable: false,
  cpus: QEMU_CPUS,
  async available() {
    const f = await qemuGuest.find();
    if ('missing' in f) return { ok: false, detail: f.missing };
    return probeBoot(qemuGuest);
  },
  supports: (mode, host) => modeNeeds(mode, toolsOnly(host)),
  async start(topology, opts) {
    return new GuestSession(qemuGuest, 'qemu', topology, { memMb: 1024, ...opts });
  },
  async reap() {
    // By its record: a guest whose run is dead, whatever still runs of it.
    return reapGuests(qemuGuest, { minAgeMs: 10_000 });
  },
};
