// When each backend measures, and with how much time. Pure: the run's gates ask it, the tests call it.
//
// The budget counts from the start of the run (the checks included), so `run --perf --budget S`
// ends about S seconds after it began, plus teardown and the report. A guest's emulated CPUs take
// host cores: measured here, an idle qemu guest keeps ~40% of a core busy and a running one 100-200%.
// So a guest measures alongside the host only when the machine has cores for both (the host's pinned
// sender and receiver, and the guest's CPUs); otherwise the guests measure first, one at a time,
// and stop their kernel before the host's rounds begin on a quiet machine.
import type { PerfOptions, PerfSchedule } from '../results/samples.ts';

export type { PerfSchedule };

/** The host's iperf3 sender and receiver, each pinned to its own core. */
export const HOST_PERF_CPUS = 2;

export function perfSchedule(guestCpus: readonly number[], cpus: number, budgetMs: number | undefined): PerfSchedule {
  const g = guestCpus.reduce((a, b) => a + b, 0);
  const guests = guestCpus.length === 0 ? 'none' : cpus >= HOST_PERF_CPUS + g ? 'alongside' : 'first';
  return { guests, cpus, guestCpus: g, ...(budgetMs !== undefined ? { budgetMs } : {}) };
}

/**
 * A guest's emulated rounds are slow: two are its minimum, and a tenth of the budget is the guests'
 * share when they measure first, so the host's rounds keep the rest.
 */
export const GUEST_MIN_ROUNDS = 2;
const GUEST_SHARE = 0.1;

/**
 * The options a backend measures with once its gate opens, `elapsedMs` into the run. The host gets
 * what is left of the budget (at least its minimum rounds are always done); a guest measuring first
 * gets its share, one alongside the host gets what is left too.
 */
export function perfOptionsFor(
  role: 'host' | { guests: number },
  s: PerfSchedule,
  opts: Omit<PerfOptions, 'progress'>,
  elapsedMs: number,
): Omit<PerfOptions, 'progress'> {
  if (opts.budgetMs === undefined) return opts;
  const left = Math.max(0, opts.budgetMs - elapsedMs);
  if (role === 'host') return { ...opts, budgetMs: Math.round(left) };
  const share = s.guests === 'first' ? Math.min(left, (opts.budgetMs * GUEST_SHARE) / role.guests) : left;
  // No parallel streams in a guest: under emulation they measure the emulator, and they cost a
  // test per mode on the critical path when the guests measure first.
  return { ...opts, budgetMs: Math.round(share), rounds: GUEST_MIN_ROUNDS, streams: 1 };
}

/** Which backends' measuring (and teardown) a backend waits for before it measures: indexes into `ordered`. */
export function waitsFor(kinds: readonly ('host' | 'guest')[], s: PerfSchedule): number[][] {
  const guests = kinds.flatMap((k, i) => (k === 'guest' ? [i] : []));
  return kinds.map((k, i) => {
    // Guests one at a time, in order: two emulated machines at once would take each other's cores.
    if (k === 'guest') return guests.filter((j) => j < i);
    return s.guests === 'first' ? guests : [];
  });
}
