// Reaping: what dead runs of any backend left behind (labs whose owner died, namespaces no lab
// claims, guests' temp dirs). With `all`, every netns lab too (`cnilab down --all`).
import { reapNetns } from './netns/index.ts';
import { BACKENDS } from './registry.ts';

export async function gc(opts: { all?: boolean; progress?: (s: string) => void } = {}): Promise<string[]> {
  const said = [
    ...(await reapNetns({ all: opts.all ?? false })),
    ...(await Promise.all(BACKENDS.filter((b) => b.name !== 'netns').map((b) => b.reap()))).flat(),
  ];
  for (const s of said) opts.progress?.(`reaped ${s}`);
  return said;
}
