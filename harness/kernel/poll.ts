// The one bounded wait: ask until there is an answer, the limit passes (a TimeoutError showing the
// limit and what was last seen) or the run is cancelled.
import { TimeoutError } from '../errors.ts';
import { isCancelled } from './exec.ts';

export async function poll<T>(
  what: string,
  timeoutMs: number,
  seen: () => string,
  f: () => Promise<T | undefined>,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (isCancelled() || Date.now() > deadline) throw new TimeoutError(what, seen(), timeoutMs);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
