// Removing a lab: processes in its namespaces first (bird withdraws routes, tcpdump flushes), then
// the namespaces in one batch, then its state directory. Idempotent, and works from the state file alone.
import { inFlightExited, isCancelled } from '../../kernel/exec.ts';
import { killAll, pidsInNetns } from '../../kernel/procs.ts';
import { deleteNetns, netnsPath } from '../../node/netns.ts';
import { existsSync } from 'node:fs';
import { removeLabDir, type LabState } from './state.ts';

export async function teardownLab(state: Pick<LabState, 'lab' | 'netns'>): Promise<{ netns: number; processes: number }> {
  // After a cancel, a killed `ip netns add` may still finish its namespace: wait for it to exit.
  if (isCancelled()) await inFlightExited();
  const pids = pidsInNetns(state.netns.map(netnsPath)).filter((p) => p !== process.pid);
  await killAll(pids);
  const present = state.netns.filter((n) => existsSync(netnsPath(n)));
  await deleteNetns(present);
  removeLabDir(state.lab);
  return { netns: present.length, processes: pids.length };
}

/** Namespaces without a state file (a state file removed by hand): reaped by name. */
export async function teardownOrphans(netns: readonly string[]): Promise<void> {
  await killAll(pidsInNetns(netns.map(netnsPath)));
  await deleteNetns(netns);
}
