// A kind lab left up, by name: its record (cluster, whether cnilab made it, owner) and `down`,
// light to load (`cnilab status` and `down` read it before any cluster code).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { UsageError } from '../../errors.ts';
import { isAlive } from '../../kernel/procs.ts';
import type { AttachedLab } from '../backend.ts';
import { stateRoot } from '../netns/state.ts';
import { deleteCluster, kindTools } from './docker.ts';

export const KIND = 'kind' as const;

/** What `down` and `gc` need of a kind lab: its cluster (when cnilab made it) and its owner. */
export interface KindState {
  lab: string;
  cluster: string;
  created: boolean;
  owner: { pid: number; startTime: number } | null;
}
export const kindDir = (lab: string) => `${stateRoot()}/${lab}`;
export const kindStateFile = (lab: string) => `${kindDir(lab)}/kind.json`;

/**
 * A kind lab by name (kind labs have names; without one, the netns lab up is meant): `down`
 * deletes its cluster when cnilab made it. Its nodes are containers, not this process's to
 * switch: a kind lab is switched by its run, through its manifest.
 */
export function attachKind(lab: string | undefined): AttachedLab | undefined {
  if (lab === undefined || !existsSync(kindStateFile(lab))) return undefined;
  let s: KindState;
  try {
    s = JSON.parse(readFileSync(kindStateFile(lab), 'utf8')) as KindState;
  } catch (e) {
    throw new UsageError(
      `lab ${lab}: ${kindStateFile(lab)} is not readable (${(e as Error).message})`,
      `remove ${kindDir(lab)}; "cnilab gc" then deletes its cluster (a cnilab cluster no record claims)`,
    );
  }
  return {
    name: lab,
    backend: KIND,
    status: () => {
      throw new UsageError(`lab ${lab} is kind cluster ${s.cluster}`, `"kubectl --context kind-${s.cluster} get nodes,pods -A" shows it`);
    },
    refuseIfRunOwned: (doing, fix) => {
      if (s.owner && s.owner.pid !== process.pid && isAlive(s.owner))
        throw new UsageError(`lab ${lab} belongs to a live run (pid ${s.owner.pid}): ${doing} would pull it from under that run`, fix);
    },
    down: async () => {
      const t = await kindTools();
      if (s.created) {
        if (!t.ok)
          throw new UsageError(
            `lab ${lab} is kind cluster ${s.cluster}, which cannot be deleted here: ${t.detail}`,
            'run it where Docker runs',
          );
        await deleteCluster(t.tools, s.cluster);
      }
      rmSync(kindDir(lab), { recursive: true, force: true });
      return s.created ? 'its kind cluster deleted' : `the cluster ${s.cluster} is yours: kept`;
    },
    live: async () => undefined,
  };
}
