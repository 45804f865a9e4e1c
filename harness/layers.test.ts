// The layers, bottom to top. A module may import its own layer or a lower one, never a higher one:
// topology -> plan (pure) -> node executor -> program (daemons and programmers) -> backend -> check -> report. (Import cycles are the
// linter's: biome's noImportCycles.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

// One folder a rank, so two folders that import each other fail here (a tie in one rank would hide it).
const LAYERS: string[][] = [
  ['errors.ts'],
  ['net'],
  ['results'],
  ['stats'],
  ['topology'],
  ['plan'],
  ['modes'],
  ['conform'],
  ['kernel'],
  ['node'],
  ['host'],
  ['kube'],
  ['capture'],
  ['probe'],
  ['oracle'],
  ['program'],
  ['backends'],
  ['check'],
  ['run'],
  ['report'],
  ['cli'],
  ['index.ts'],
];

const rankOf = (file: string): number => {
  const top = relative(HERE, file).split('/')[0]!;
  const r = LAYERS.findIndex((l) => l.includes(top));
  if (r < 0) throw new Error(`${relative(HERE, file)}: its folder is in no layer; add it to LAYERS in harness/layers.test.ts`);
  return r;
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

test('no module imports a layer above its own', () => {
  const wrong: string[] = [];
  for (const file of sources(HERE)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\b[^;]*?from '(\.[^']+)'/gms)) {
      const target = resolve(dirname(file), m[1]!);
      if (!target.startsWith(HERE)) continue;
      if (rankOf(target) > rankOf(file)) wrong.push(`${relative(HERE, file)} imports ${relative(HERE, target)}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('no source line is over 140 characters', () => {
  const root = dirname(HERE);
  const files = [...sources(HERE), ...sources(join(root, 'test')), ...sources(join(root, 'assertions')), ...sources(join(root, 'bench'))];
  const tests = [HERE, join(root, 'test')].flatMap((d) => allTests(d));
  const long = [...files, ...tests].flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .flatMap((l, i) => (l.length > 140 ? [`${relative(root, f)}:${i + 1} (${l.length})`] : [])),
  );
  assert.deepEqual(long, []);
});

function allTests(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return allTests(p);
    return p.endsWith('.test.ts') ? [p] : [];
  });
}
