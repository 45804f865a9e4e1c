// `npm run bench [NAME] [-- flags]`: runs one benchmark of this folder, or lists them with the first
// line of each (what it measures and how to call it). Each prints its own table, as the README shows.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const benches = [
  ...readdirSync(here)
    .filter((f) => f.endsWith('.ts') && !['run.ts', 'shape.ts'].includes(f))
    .map((f) => f.slice(0, -3)),
  'peer-mininet/run',
];
const [name, ...rest] = process.argv.slice(2);
if (!name || !benches.includes(name)) {
  if (name) console.error(`bench: no benchmark "${name}"`);
  console.log('benchmarks (npm run bench NAME -- FLAGS):');
  for (const b of benches)
    console.log(
      `  ${b.padEnd(16)} ${readFileSync(join(here, `${b}.ts`), 'utf8')
        .split('\n')[0]!
        .replace(/^\/\/ /, '')}`,
    );
  process.exit(name ? 2 : 0);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, `${name}.ts`), ...rest], { stdio: 'inherit' });
process.exit(r.status ?? 1);
