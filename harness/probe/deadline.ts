// How long a probe waits for its replies. ping's fixed 2 s made every unreachable pair cost 2 s; the
// deadline now follows the lab's own underlay: many times its worst round trip, never under a floor
// that a busy 2-core machine's scheduling cannot reach, plus what the topology adds on purpose
// (a declared delay). "Unreachable" still means every request sent and none answered by then.

/** Never wait less than this: a veth round trip is ~0.1 ms, a loaded 2-core host stalls ~10-50 ms. */
export const DEADLINE_FLOOR_MS = 200;
/** Without any underlay measurement (nothing answered the warm-up), ping's old deadline. */
export const DEADLINE_UNMEASURED_MS = 2_000;
export const DEADLINE_CAP_MS = 5_000;
/** The worst underlay round trip, times this. */
export const DEADLINE_RTT_FACTOR = 20;

/**
 * The reply deadline for a round, from the underlay round trips measured in the same lab (ms) and
 * any delay the topology declares on the path, both ways (ms).
 */
export function replyDeadlineMs(underlayRttsMs: readonly number[], declaredDelayMs = 0): number {
  const base = underlayRttsMs.length
    ? Math.max(DEADLINE_FLOOR_MS, DEADLINE_RTT_FACTOR * Math.max(...underlayRttsMs))
    : DEADLINE_UNMEASURED_MS;
  return Math.round(Math.min(DEADLINE_CAP_MS, base) + Math.max(0, declaredDelayMs));
}
