// CLI start-up on a warm machine: `npx tsx bench/cli-start.ts [--runs 30]`. `cnilab status` (no lab
// up: it reads the state directory and answers) and `cnilab modes` through bin/cnilab, against
// node doing nothing, interleaved; wall seconds, min / median / max.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '30' } } });
const ROOT = new URL('..', import.meta.url).pathname;
const cases: [string, string, string[]][] = [
  ['cnilab status', `${ROOT}bin/cnilab`, ['status']],
  ['cnilab modes', `${ROOT}bin/cnilab`, ['modes']],
  ['node -e 0 (the floor)', process.execPath, ['-e', '0']],
  ['cnilab modes through tsx (before)', process.execPath, ['--import', 'tsx', `${ROOT}harness/cli/main.ts`, 'modes']],
];
// One unmeasured run: bin/cnilab builds its bundle if a source changed.
spawnSync(`${ROOT}bin/cnilab`, ['modes'], { stdio: 'ignore' });
const times = new Map<string, number[]>(cases.map(([k]) => [k, []]));
for (let r = 0; r < Number(values.runs); r++) {
  for (const [k, cmd, args] of cases) {
    const t = performance.now();
    spawnSync(cmd, args, { stdio: 'ignore', cwd: ROOT });
    times.get(k)!.push((performance.now() - t) / 1000);
  }
}
console.log(`\nCLI start-up, ${values.runs} runs each, seconds (min / median / max)\n\n| command | wall |\n|---|---|`);
for (const [k, xs] of times) {
  const s = [...xs].sort((a, b) => a - b);
  console.log(`| ${k} | ${s[0]!.toFixed(3)} / ${s[Math.floor(s.length / 2)]!.toFixed(3)} / ${s.at(-1)!.toFixed(3)} |`);
}
