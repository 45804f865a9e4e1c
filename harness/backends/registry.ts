// The backends cnilab knows, in the order `--backend auto` tries them. A new backend is a folder
// implementing Backend and one line here.
import { UsageError } from '../errors.ts';
import type { BackendName } from '../results/schema.ts';
import type { AttachedLab, Backend, LiveLab, Progress } from './backend.ts';
import { kindBackend } from './kind/index.ts';
import { netnsBackend } from './netns/index.ts';
import { qemuBackend } from './qemu/index.ts';
import { umlBackend } from './uml/index.ts';

/** uml before qemu: where UML boots it is several times faster. kind only when asked for. */
export const BACKENDS: readonly Backend[] = [netnsBackend, umlBackend, qemuBackend, kindBackend];

export type BackendChoice = BackendName | 'auto';

export function parseBackend(v: string | undefined): BackendChoice {
  if (v === undefined || v === 'auto') return 'auto';
  const b = BACKENDS.find((x) => x.name === v);
  if (b) return b.name;
  const names = BACKENDS.map((x) => x.name).join(', ');
  throw new UsageError(
    `--backend "${v}" is not a backend`,
    `use ${names} or auto (auto runs on this kernel when it can, in a guest when it lacks a feature)`,
  );
}

export function getBackend(name: BackendName): Backend {
  const b = BACKENDS.find((x) => x.name === name);
  if (!b) throw new UsageError(`backend "${name}" is not available in this build`, `use one of: ${BACKENDS.map((x) => x.name).join(', ')}`);
  return b;
}

/**
 * A lab left up, by name, whichever backend holds it (without a name: the only lab up). The one way
 * `switch`, `check`, `status` and `down` reach a lab.
 */
export function attachLab(name: string | undefined, progress?: Progress): AttachedLab {
  // Named: the backends that keep labs by name, netns last (its answer for an unknown name is the error line).
  const netns = BACKENDS.find((b) => b.name === 'netns')!;
  const others = BACKENDS.filter((b) => b !== netns && b.attach);
  if (name !== undefined)
    for (const b of others) {
      const a = b.attach!(name, progress);
      if (a) return a;
    }
  const a = netns.attach!(name, progress);
  if (a) return a;
  throw new UsageError(`no lab named "${name}"`, 'see "cnilab status" for the labs up');
}

/** The lab's nodes, for a command that switches or checks it: a lab behind a transport says where to act instead. */
export function liveLab(a: AttachedLab, doing: string): LiveLab {
  const live = a.live();
  if (!live)
    throw new UsageError(
      `lab ${a.name} runs on ${a.backend}: cnilab cannot ${doing} it from here`,
      `its run does; "cnilab down --name ${a.name}" removes it`,
    );
  return live;
}
