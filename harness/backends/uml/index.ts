// The uml backend: modes this host's kernel cannot run (IPIP here) run inside a User-Mode Linux
// guest that sees the host's filesystem read-only and runs this same cnilab (the agent, on the
// netns backend) on its own kernel. Its timings are not comparable with the host's.
import { modeNeeds, toolsOnly } from '../../host/doctor.ts';
import type { Backend } from '../backend.ts';
import { GuestSession, type GuestSessionOptions } from '../guest/session.ts';
import { cleanupStaleGuests } from '../guest/supervisor.ts';
import { findUml, umlGuest } from './guest.ts';

export const umlBackend: Backend = {
  name: 'uml',
  comparable: false,
  async available() {
    const u = await findUml();
    return 'missing' in u ? { ok: false, detail: u.missing } : { ok: true, detail: `${u.kernel} (${u.version})` };
  },
  supports: (mode, host) => modeNeeds(mode, toolsOnly(host)),
  async start(topology, opts) {
    return new GuestSession(umlGuest, 'uml', topology, opts as GuestSessionOptions);
  },
  async reap() {
    // A SIGKILLed run takes its guest down with it (PDEATHSIG), but not the guest's temp directory.
    const removed = await cleanupStaleGuests(umlGuest.tempPrefix, umlGuest.tagOf, { minAgeMs: 60_000 });
    return removed.map((d) => `uml temp dir ${d}`);
  },
};
