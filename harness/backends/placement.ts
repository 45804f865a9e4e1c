// Where each mode runs: on the first backend (in BACKENDS order) that is available here and
// supports it, or on the one asked for, or nowhere, with every reason. Pure: decided from doctor's
// answers and each backend's availability.
import type { Check, HostReport } from '../host/doctor.ts';
import type { ModeDef } from '../modes/mode.ts';
import type { Backend } from './backend.ts';
import type { BackendChoice } from './registry.ts';

export type Placement = { mode: ModeDef; backend: Backend } | { mode: ModeDef; skip: string };

export function placeMode(
  mode: ModeDef,
  choice: BackendChoice,
  host: Pick<HostReport, 'kernel' | 'tools'>,
  backends: readonly { backend: Backend; available: Check }[],
): Placement {
  const tried = choice === 'auto' ? backends : backends.filter((b) => b.backend.name === choice);
  const why: string[] = [];
  for (const { backend, available } of tried) {
    if (!available.ok) {
      why.push(`${backend.name} backend unavailable: ${available.detail}`);
      continue;
    }
    const s = backend.supports(mode, host);
    if (s.ok) return { mode, backend };
    why.push(`${backend.name === 'netns' ? 'this kernel' : `${backend.name} backend`}: ${s.detail}`);
  }
  return { mode, skip: why.join('; ') || `no backend named ${choice}` };
}
