// Reaping: labs whose owner died (a SIGKILLed run), and cnilab namespaces with no lab at all.
import { run } from '../kernel/exec.ts';
import { cleanupStaleUml } from '../backends/uml/uml.ts';
import { isAlive } from '../kernel/procs.ts';
import { labOfNetns } from '../plan/names.ts';
import { listLabs, readState, removeLabDir } from './state.ts';
import { teardownLab, teardownOrphans } from './teardown.ts';

export async function gc(opts: { all?: boolean; progress?: (s: string) => void } = {}): Promise<{ labs: string[]; orphans: string[] }> {
  const reaped: string[] = [];
  for (const lab of listLabs()) {
    const s = readState(lab);
    if (!s) continue;
    const dead = s.owner !== null && !isAlive(s.owner);
    if (opts.all || dead) {
      const r = await teardownLab(s);
      opts.progress?.(`reaped lab ${lab}: ${r.netns} namespaces, ${r.processes} processes`);
      reaped.push(lab);
    }
  }
  const known = new Set(listLabs());
  const r = await run(['ip', '-json', 'netns', 'list'], { reject: false });
  const all = r.stdout.trim() ? (JSON.parse(r.stdout) as { name: string }[]).map((x) => x.name) : [];
  const orphans = all.filter((n) => {
    const lab = labOfNetns(n);
    return lab !== undefined && !known.has(lab);
  });
  if (orphans.length) {
    await teardownOrphans(orphans);
    opts.progress?.(`reaped ${orphans.length} orphan namespaces`);
  }
  for (const lab of new Set(orphans.map((n) => labOfNetns(n)!))) removeLabDir(lab);
  // A SIGKILLed uml run takes its guest down with it, but not the guest's temp directory.
  await cleanupStaleUml({ minAgeMs: 60_000 });
  return { labs: reaped, orphans };
}
