// The uml backend: modes this host's kernel cannot run (IPIP here) run inside a User-Mode Linux
// guest that sees the host's filesystem read-only and runs this same cnilab, netns backend, on its
// own kernel. Results come back through a shared folder and are relabelled as uml's.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import type { ModeDef } from '../../modes/mode.ts';
import type { ResultsFile, RunResult } from '../../results/schema.ts';
import { findUml, runInUml, UmlError } from './uml.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');

export interface UmlRunOptions {
  topologyFile: string;
  outDir: string;
  name: string;
  count?: number;
  timeoutMs?: number;
  progress?: (s: string) => void;
  /** Extra flags for the guest's `cnilab run` (perf settings). */
  extraArgs?: string[];
  /** Guest console lines, for the user to see what the guest is doing. */
  onConsole?: (line: string) => void;
}

/** Kernel modules the guest loads for a mode's kernel features. */
const MODULES: Record<string, string[]> = { ipip: ['ipip'], vxlan: ['vxlan'], bridge: ['bridge'], veth: ['veth'] };

export async function umlAvailable(): Promise<{ ok: boolean; detail: string }> {
  const u = await findUml();
  return 'missing' in u ? { ok: false, detail: u.missing } : { ok: true, detail: `${u.kernel} (${u.version})` };
}

const active = new Set<Promise<unknown>>();

/** Resolves once every guest in flight has ended and removed its files (after cancelAllUml on a signal). */
export async function settleUml(timeoutMs = 10_000): Promise<void> {
  await Promise.race([Promise.allSettled([...active]), new Promise((r) => setTimeout(r, timeoutMs))]);
}

export async function runModesUml(modes: readonly ModeDef[], opts: UmlRunOptions): Promise<RunResult[]> {
  const skipAll = (reason: string): RunResult[] => modes.map((m) => ({ mode: m.name, backend: 'uml', status: 'skipped', reason, pairs: [] }));
  if (modes.length === 0) return [];
  const avail = await umlAvailable();
  if (!avail.ok) return skipAll(`needs the uml backend, which is unavailable: ${avail.detail}`);
  const guestOut = resolve(opts.outDir, 'uml');
  rmSync(guestOut, { recursive: true, force: true });
  mkdirSync(guestOut, { recursive: true });
  const modules = [...new Set(modes.flatMap((m) => m.kernel.flatMap((k) => MODULES[k] ?? [])))];
  const command = [process.execPath, '--import', 'tsx', `${ROOT}/harness/cli/main.ts`, 'run', '--backend', 'netns', '--topology', resolve(opts.topologyFile), '--modes', modes.map((m) => m.name).join(','), '--out', guestOut, '--name', opts.name, '--count', String(opts.count ?? 3), ...(opts.extraArgs ?? [])];
  opts.progress?.(`uml: booting a guest for ${modes.map((m) => m.name).join(', ')}`);
  let exitCode: number;
  try {
    const guest = runInUml({ command, cwd: ROOT, share: [{ hostPath: guestOut, guestPath: guestOut }], modules, timeoutMs: opts.timeoutMs ?? 300_000, name: `cnilab-${opts.name}`, memMb: 1024, ...(opts.onConsole ? { onConsole: opts.onConsole } : {}) });
    active.add(guest);
    const r = await guest.finally(() => active.delete(guest));
    exitCode = r.exitCode;
    opts.progress?.(`uml: guest finished with exit ${exitCode} in ${Math.round(r.durationMs)} ms`);
  } catch (e) {
    const reason = e instanceof UmlError ? e.message : String(e);
    return modes.map((m) => ({ mode: m.name, backend: 'uml', status: 'failed', reason: `uml guest failed: ${reason}`, pairs: [] }));
  }
  let guest: ResultsFile;
  try {
    guest = JSON.parse(readFileSync(`${guestOut}/results.json`, 'utf8')) as ResultsFile;
  } catch {
    return modes.map((m) => ({ mode: m.name, backend: 'uml', status: 'failed', reason: `uml guest exited ${exitCode} without writing results.json`, pairs: [] }));
  }
  return guest.runs.map((r) => ({
    ...r,
    backend: 'uml' as const,
    captures: (r.captures ?? []).map((c) => `uml/${c}`),
    ...(r.perf ? { perf: { ...r.perf, comparable: false } } : {}),
  }));
}
