// Removing a lab: processes in its namespaces first (bird withdraws routes, tcpdump flushes), then
// the namespaces in one batch, then its state directory. Idempotent, and works from the state file alone.
import { inFlightExited, isCancelled, run } from '../../kernel/exec.ts';
import { killAll, pidsInNetns } from '../../kernel/procs.ts';
import { labNames } from '../../plan/names.ts';
import { createNetns, deleteNetns, netnsPath } from '../../node/netns.ts';
import { existsSync } from 'node:fs';
import { removeLabDir, type LabState } from './state.ts';

/**
 * teardownLab, once more if a signal's cancel killed its commands half-way; with the line that
 * says what went and when the kernel was done (a witness that timed out is said: the time then
 * stops at the witness's limit, not at the kernel).
 */
export async function teardownSurvivingSignal(state: Pick<LabState, 'lab' | 'netns'>): Promise<{ ms: number; line: string }> {
  const t = performance.now();
  let r: Awaited<ReturnType<typeof teardownLab>>;
  try {
    r = await teardownLab(state);
  } catch (e) {
    if (!isCancelled()) throw e;
    await inFlightExited();
    r = await teardownLab(state);
  }
  const ms = Math.round(performance.now() - t);
  const kernel = r.kernelDone === true ? ', the kernel done with them' : r.kernelDone === false ? ', the kernel not done after 10 s' : '';
  return { ms, line: `down: ${r.netns} namespaces, ${r.processes} processes in ${ms} ms${kernel}` };
}

export async function teardownLab(
  state: Pick<LabState, 'lab' | 'netns'>,
): Promise<{ netns: number; processes: number; kernelDone?: boolean }> {
  // After a cancel, a killed `ip netns add` may still finish its namespace: wait for it to exit.
  if (isCancelled()) await inFlightExited();
  const pids = pidsInNetns(state.netns.map(netnsPath)).filter((p) => p !== process.pid);
  await killAll(pids);
  const present = state.netns.filter((n) => existsSync(netnsPath(n)));
  // A witness a crashed teardown left is this lab's too: deleted with the rest, and no new one.
  const leftover = existsSync(netnsPath(labNames(state.lab).witness()));
  const witness = isCancelled() || leftover || !present.length ? undefined : await armWitness(state.lab, present.at(-1)!);
  await deleteNetns(leftover ? [...present, labNames(state.lab).witness()] : present);
  // undefined: not watched (no witness); false: watched, and the kernel was not done in time.
  const kernelDone = witness ? await witness.gone() : undefined;
  removeLabDir(state.lab);
  return { netns: present.length, processes: pids.length, ...(kernelDone === undefined ? {} : { kernelDone }) };
}

/**
 * `ip netns del` returns once the name is unmounted; the kernel tears the namespace down later, in
 * its netns workqueue (cleanup_net: devices unregistered, then freed). To time teardown until the
 * kernel is done, a witness namespace holds one end of a veth whose other end is in the namespace
 * deleted last. That end vanishes when the kernel unregisters the devices of that namespace's
 * batch; the workqueue is ordered, so every namespace deleted before it is done by then. The
 * witness is named for the lab, so gc reaps it if this process dies in between.
 */
async function armWitness(lab: string, last: string): Promise<{ gone(): Promise<boolean> } | undefined> {
  const w = labNames(lab).witness();
  try {
    await createNetns([w]);
    await run(['ip', '-n', w, 'link', 'add', 'witness', 'type', 'veth', 'peer', 'name', 'witness', 'netns', last], {
      op: 'teardown witness',
    });
  } catch {
    // Without a witness, teardown is only timed until the names are gone. A killed `ip netns add`
    // may still finish its namespace: wait for it before deleting.
    await inFlightExited();
    await deleteNetns([w]);
    return undefined;
  }
  return {
    async gone() {
      const until = performance.now() + 10_000;
      let done = false;
      try {
        // A signal mid-wait cancels the poll: stop waiting, but the witness still goes.
        while (!done && !isCancelled() && performance.now() < until) {
          const r = await run(['ip', '-n', w, '-o', 'link', 'show', 'witness'], { reject: false, op: 'teardown witness' });
          done = r.exitCode !== 0;
          if (!done) await new Promise((res) => setTimeout(res, 2));
        }
      } catch {
        done = false;
      } finally {
        await deleteNetns([w]);
      }
      return done;
    },
  };
}

/** Namespaces without a state file (a state file removed by hand): reaped by name. */
export async function teardownOrphans(netns: readonly string[]): Promise<void> {
  await killAll(pidsInNetns(netns.map(netnsPath)));
  await deleteNetns(netns);
}
