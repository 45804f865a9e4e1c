// Everything a run owns that must go when it stops: labs, guests, sessions. Each registers itself
// when it is made (before it creates anything) and unregisters once it is down. `shutdown()` is the
// one call a signal handler makes: stop every command in flight, then take every owned thing down.
import { cancelAll, inFlightExited } from './exec.ts';

export interface Owned {
  down(): Promise<void>;
}

const owned = new Set<Owned>();

/** Registers `r` for shutdown; returns the function that unregisters it. */
export function own(r: Owned): () => void {
  owned.add(r);
  return () => owned.delete(r);
}

export const ownedCount = () => owned.size;

/** Cancels every command and guest in flight, then downs every owned thing; resolves when all are down (or after timeoutMs). */
export async function shutdown(timeoutMs = 20_000): Promise<void> {
  cancelAll();
  // Taken now: while killed commands exit, a failing build may down (and unregister) itself, and
  // this must still wait for that teardown before the process exits. down() is idempotent.
  const targets = new Set(owned);
  await inFlightExited();
  for (const r of owned) targets.add(r);
  const all = Promise.allSettled([...targets].map((r) => r.down()));
  await Promise.race([all, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
}
