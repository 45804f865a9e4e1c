// A netns lab left up by `cnilab up`, reached again by name through Backend.attach: its state file
// for status, its nodes for switch and check, and its namespaces by name when the state file is
// corrupt or gone (down removes them all the same). Light to load: the lab's code (process runner,
// programmers) is imported only when the lab is acted on, so `cnilab status` stays a file read.
import type { ModeDef } from '../../modes/mode.ts';
import type { Topology } from '../../topology/types.ts';
import type { AttachedLab, LeaveUpOptions, LiveLab, Progress } from '../backend.ts';
import type { Lab } from './lab.ts';
import { readState, removeLabDir, stateProblem } from './state.ts';
import { attachedState, labStatus, liveNamespaces, NETNS, refuseIfRunOwned } from './status.ts';

export function attachNetns(name: string | undefined, progress?: Progress): AttachedLab | undefined {
  // A named lab with no readable state: its namespaces are still removed by name, and every other
  // command says why it cannot act (attachedState's line).
  if (name !== undefined && !readState(name)) {
    if (!stateProblem(name) && !liveNamespaces(name).length) return undefined;
    return {
      name,
      backend: NETNS,
      status: () => labStatus(attachedState(name)),
      refuseIfRunOwned: () => {},
      down: async () => `${await downByName(name)} namespaces removed by name`,
      live: async () => {
        attachedState(name); // throws the line that says why, and that down removes it by name
        return undefined;
      },
    };
  }
  const state = attachedState(name);
  let lab: Promise<Lab> | undefined;
  const attach = () => (lab ??= import('./lab.ts').then(({ Lab }) => Lab.attach(state.lab, progress)));
  return {
    name: state.lab,
    backend: NETNS,
    status: () => labStatus(state),
    refuseIfRunOwned: (doing, fix) => refuseIfRunOwned(state, doing, fix),
    down: async () => {
      await (await attach()).down();
      return undefined;
    },
    live: attach,
  };
}

/** Removes a lab whose state file is missing or corrupt, by its namespaces' names. */
async function downByName(lab: string): Promise<number> {
  const alive = liveNamespaces(lab);
  const { teardownOrphans } = await import('./teardown.ts');
  await teardownOrphans(alive);
  removeLabDir(lab);
  return alive.length;
}

/** `cnilab up`: the lab built and programmed, then handed over (no owner: `down` removes it). */
export async function leaveUpNetns(topology: Topology, mode: ModeDef, opts: LeaveUpOptions): Promise<LiveLab> {
  const { Lab } = await import('./lab.ts');
  const lab = await Lab.up(topology, mode, opts);
  lab.detach();
  return lab;
}
