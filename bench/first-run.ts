// A first `sudo ./bin/cnilab run` as on a fresh machine, apt aside: `sudo npx tsx bench/first-run.ts`.
// A fresh clone with empty Go, module and cnilab caches: npm ci (from npm's own cache), the guest's
// kernel, flanneld and the flannel CNI plugin built from their modules, the CLI bundle, then the run.
// Debian's packages must be installed already: apt is the one step this cannot redo (minutes).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResultsFile } from '../harness/results/schema.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const base = mkdtempSync(join(tmpdir(), 'cnilab-first-run-'));
const checkout = join(base, 'cnilab');
const cache = join(base, 'cache');
try {
  // The modules the Go proxy here refuses come from ../shared/goproxy beside a checkout (ci/ensure.sh).
  symlinkSync(join(dirname(root), 'shared'), join(base, 'shared'));
  spawnSync('git', ['clone', '-q', root, checkout], { stdio: 'inherit' });
  mkdirSync(cache, { recursive: true });
  const env = {
    ...process.env,
    CNILAB_CACHE: cache,
    CNILAB_GO_CACHE: join(cache, 'go'),
    CNILAB_QEMU_CACHE: join(cache, 'qemu'),
    GOCACHE: join(base, 'gocache'),
    GOMODCACHE: join(base, 'gomod'),
  };
  const t0 = performance.now();
  const r = spawnSync(`${checkout}/bin/cnilab`, ['run', '--out', join(base, 'out'), '--quiet'], { cwd: checkout, env, stdio: 'inherit' });
  const wall = (performance.now() - t0) / 1000;
  const res = JSON.parse(readFileSync(join(base, 'out', 'results.json'), 'utf8')) as ResultsFile;
  const phases = readFileSync(join(cache, 'install-times'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .map(([phase, s]) => `| ${phase} | ${s} |`);
  const passed = res.runs.filter((x) => x.status === 'passed').length;
  console.log(`\nfirst run, apt aside: exit ${r.status}, ${passed}/${res.runs.length} modes passed, ${wall.toFixed(0)} s wall\n`);
  console.log(`| install phase | s |\n|---|---|\n${phases.join('\n')}`);
  console.log(`| the run itself (results.json meta) | ${Math.round((res.meta?.durationMs ?? 0) / 1000)} |`);
} finally {
  // Go's module cache is read-only by default: made writable first so it can go.
  spawnSync('chmod', ['-R', 'u+w', base]);
  rmSync(base, { recursive: true, force: true });
}
