// The uml backend: modes this host's kernel cannot run (IPIP here) run inside a User-Mode Linux
// guest that sees the host's filesystem read-only and runs this same cnilab (the agent, on the
// netns backend) on its own kernel. Its timings are not comparable with the host's.
import { modeNeeds, toolsOnly } from '../../host/doctor.ts';
import type { Backend } from '../backend.ts';
import { GuestSession } from '../guest/session.ts';
import { probeBoot } from '../guest/probe.ts';
import { reapGuests } from '../guest/supervisor.ts';
import { findUml, umlGuest } from './guest.ts';

export const umlBackend: Backend = {
  name: 'uml',
  comparable: false,
  // UML is one host process whose kernel runs on one thread.
  cpus: 1,
  /** Installed, and a probe boot works on this host's CPU (cached per host). */
  async available() {
    const u = await findUml();
    if ('missing' in u) return { ok: false, detail: u.missing };
    const b = await probeBoot(umlGuest);
    return b.ok ? { ok: true, detail: `${u.kernel} (${u.version}) ${b.detail}` } : b;
  },
  supports: (mode, host) => modeNeeds(mode, toolsOnly(host)),
  async start(topology, opts) {
    return new GuestSession(umlGuest, 'uml', topology, opts);
  },
  async reap() {
    // By its record: a guest whose run is dead, whatever still runs of it.
    return reapGuests(umlGuest, { minAgeMs: 10_000 });
  },
};
