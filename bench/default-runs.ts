// `cnilab run` N times (--runs, 20), half beside a busy loop: passes, incomplete captures, wall, the guest's IPIP modes.
// Issue 27's done-when, as the README quotes it. Needs root; every run writes to a temp folder.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResultsFile, RunResult } from '../harness/results/schema.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const i = process.argv.indexOf('--runs');
const runs = i > 0 ? Number(process.argv[i + 1]) : 20;
const sum = (r: RunResult | undefined) => Object.values(r?.phases ?? {}).reduce((a, b) => a + (b ?? 0), 0) / 1000;
const rows: { loaded: boolean; ok: boolean; wall: number; always: number; build: number; cross: number; bad: number; caps: number }[] = [];
for (let k = 0; k < runs; k++) {
  const loaded = k >= runs / 2;
  const hog = loaded ? spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }) : undefined;
  const out = mkdtempSync(join(tmpdir(), 'cnilab-bench-runs-'));
  const t0 = performance.now();
  const r = spawnSync(`${root}/bin/cnilab`, ['run', '--out', out, '--quiet'], { stdio: 'ignore' });
  const wall = (performance.now() - t0) / 1000;
  hog?.kill('SIGKILL');
  const res = JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile;
  const by = (m: string) => res.runs.find((x) => x.mode === m);
  const stats = res.runs.flatMap((x) => x.captureStats ?? []);
  rows.push({
    loaded,
    ok: r.status === 0 && res.runs.every((x) => x.status === 'passed'),
    wall,
    always: sum(by('calico-ipip-always')),
    build: (by('calico-ipip-always')?.phases?.build ?? 0) / 1000,
    cross: sum(by('calico-ipip-crosssubnet')),
    bad: stats.filter((c) => c.incomplete).length,
    caps: stats.length,
  });
  console.log(`run ${k + 1}${loaded ? ' (loaded)' : ''}: ${rows.at(-1)!.ok ? 'passed' : 'FAILED'} in ${wall.toFixed(1)} s`);
}
const mmm = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[0]!.toFixed(0)} / ${s[Math.floor((s.length - 1) / 2)]!.toFixed(0)} / ${s.at(-1)!.toFixed(0)}`;
};
console.log(
  '\n| runs | passed | captures incomplete | wall s | IPIP Always s (boot + build) | IPIP CrossSubnet s |\n|---|---|---|---|---|---|',
);
for (const loaded of [false, true]) {
  const g = rows.filter((x) => x.loaded === loaded);
  if (!g.length) continue;
  console.log(
    `| ${g.length} ${loaded ? 'loaded' : 'quiet'} | ${g.filter((x) => x.ok).length} | ${g.reduce((a, x) => a + x.bad, 0)} of ` +
      `${g.reduce((a, x) => a + x.caps, 0)} | ${mmm(g.map((x) => x.wall))} | ${mmm(g.map((x) => x.always))} ` +
      `(${mmm(g.map((x) => x.build))}) | ${mmm(g.map((x) => x.cross))} |`,
  );
}
