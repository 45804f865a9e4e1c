// The backends cnilab knows, in the order `--backend auto` tries them. A new backend is a folder
// implementing Backend and one line here.
import { UsageError } from '../errors.ts';
import type { BackendName } from '../results/schema.ts';
import type { Backend } from './backend.ts';
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
