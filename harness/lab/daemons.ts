// Daemons a mode needs (Calico's BIRD). Filled in by the modes that have them.
import type { ModeDef } from '../modes/mode.ts';
import type { LabState } from './state.ts';
import type { Lab } from './lab.ts';

export type DaemonStarter = (lab: Lab) => Promise<LabState['daemons']>;
const starters = new Map<string, DaemonStarter>();

export function registerDaemon(what: string, start: DaemonStarter): void {
  starters.set(what, start);
}

export async function startDaemons(mode: ModeDef, lab: Lab): Promise<LabState['daemons']> {
  const out: LabState['daemons'] = [];
  for (const d of mode.daemons ?? []) {
    const s = starters.get(d);
    if (!s) throw new Error(`mode ${mode.name} needs daemon "${d}", which nothing registered`);
    out.push(...(await s(lab)));
  }
  return out;
}
