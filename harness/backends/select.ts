// Where each mode runs: on this host's kernel (netns), in a User-Mode Linux guest (uml) when this
// kernel lacks a feature, or nowhere, with the reason. Pure: decided from doctor's answers.
import { UsageError } from '../errors.ts';
import type { HostReport } from '../host/doctor.ts';
import { modeNeeds } from '../host/doctor.ts';
import type { ModeDef } from '../modes/mode.ts';

export type BackendChoice = 'netns' | 'uml' | 'auto';
export type Placement = { mode: ModeDef; backend: 'netns' | 'uml' } | { mode: ModeDef; skip: string };

export function parseBackend(v: string | undefined): BackendChoice {
  if (v === undefined) return 'auto';
  if (v === 'netns' || v === 'uml' || v === 'auto') return v;
  throw new UsageError(`--backend "${v}" is not a backend`, 'use netns, uml or auto (auto runs on this kernel when it can, in uml when it lacks a feature)');
}

export function placeMode(mode: ModeDef, choice: BackendChoice, host: Pick<HostReport, 'kernel' | 'tools'>, uml: { ok: boolean; detail: string }): Placement {
  const here = modeNeeds(mode, host);
  const toolsOnly = modeNeeds(mode, { kernel: Object.fromEntries(mode.kernel.map((k) => [k, { ok: true, detail: '' }])) as HostReport['kernel'], tools: host.tools });
  if (choice === 'netns') return here.ok ? { mode, backend: 'netns' } : { mode, skip: `netns backend: ${here.detail}` };
  if (choice === 'uml') {
    if (!toolsOnly.ok) return { mode, skip: toolsOnly.detail };
    return uml.ok ? { mode, backend: 'uml' } : { mode, skip: `uml backend unavailable: ${uml.detail}` };
  }
  if (here.ok) return { mode, backend: 'netns' };
  if (!toolsOnly.ok) return { mode, skip: here.detail };
  return uml.ok ? { mode, backend: 'uml' } : { mode, skip: `this kernel: ${here.detail}; uml backend unavailable: ${uml.detail}` };
}
