// Labs left up by `cnilab up`, reached again by name: `switch`, `check`, `status` and `down` go
// through the attach of the backends whose labs outlive their run (Backend.attach). Kept apart from
// registry.ts so that reaching a lab loads no backend's session code: `cnilab status` is a file read
// (~0.1 s). labs.test.ts holds this list to the registry's.
import { UsageError } from '../errors.ts';
import type { AttachedLab, Backend, LiveLab, Progress } from './backend.ts';
import { attachKind } from './kind/attach.ts';
import { attachNetns } from './netns/attach.ts';

/** Named labs: kind's by their record, then netns's, whose answer for an unknown name is the error line. */
export const LAB_KEEPERS: readonly NonNullable<Backend['attach']>[] = [attachKind, attachNetns];

/** A lab left up, by name, whichever backend holds it (without a name: the only netns lab up). */
export function attachLab(name: string | undefined, progress?: Progress): AttachedLab {
  const keepers = name === undefined ? [attachNetns] : LAB_KEEPERS;
  for (const attach of keepers) {
    const a = attach(name, progress);
    if (a) return a;
  }
  throw new UsageError(`no lab named "${name}"`, 'see "cnilab status" for the labs up');
}

/** The lab's nodes, for a command that switches or checks it: a lab behind a transport says where to act instead. */
export async function liveLab(a: AttachedLab, doing: string): Promise<LiveLab> {
  const live = await a.live();
  if (!live)
    throw new UsageError(
      `lab ${a.name} runs on ${a.backend}: cnilab cannot ${doing} it from here`,
      `its run does; "cnilab down --name ${a.name}" removes it`,
    );
  return live;
}
