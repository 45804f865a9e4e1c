// Where each mode runs: on the first backend (in BACKENDS order) that is available here and
// supports it, or on the one asked for, or nowhere, with every reason. A backend's availability is
// asked only when a mode gets that far (a guest's boot probe costs seconds), and once.
import type { Check, HostReport } from '../host/doctor.ts';
import type { ModeDef } from '../modes/mode.ts';
import type { Backend } from './backend.ts';
import type { BackendChoice } from './registry.ts';

export type Placement = { mode: ModeDef; backend: Backend } | { mode: ModeDef; skip: string };

/** Each backend with its availability, asked at most once. */
export function lazyAvailability(backends: readonly Backend[]): { backend: Backend; available: () => Promise<Check> }[] {
  return backends.map((backend) => {
    let p: Promise<Check> | undefined;
    return { backend, available: () => (p ??= backend.available()) };
  });
}

export async function placeMode(
  mode: ModeDef,
  choice: BackendChoice,
  host: Pick<HostReport, 'kernel' | 'tools'>,
  backends: readonly { backend: Backend; available: () => Promise<Check> }[],
): Promise<Placement> {
  const tried = choice === 'auto' ? backends.filter((b) => !b.backend.onlyWhenAsked) : backends.filter((b) => b.backend.name === choice);
  const why: string[] = [];
  for (const { backend, available } of tried) {
    // What the mode needs first: no guest is booted for a mode this kernel runs anyway.
    const s = backend.supports(mode, host);
    if (!s.ok) {
      why.push(`${backend.name === 'netns' ? 'this kernel' : `${backend.name} backend`}: ${s.detail}`);
      continue;
    }
    const a = await available();
    if (a.ok) return { mode, backend };
    why.push(`${backend.name} backend unavailable: ${a.detail}`);
  }
  return { mode, skip: why.join('; ') || `no backend named ${choice}` };
}
