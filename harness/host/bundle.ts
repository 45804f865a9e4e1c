// cnilab as one plain-JS file, for the places where starting it from its TypeScript sources costs
// too much: a guest's agent (under qemu's emulation tsx took 23 s, node itself 2.6 s) and bin/cnilab
// (tsx added ~0.5 s to every command). esbuild bundles the sources and their packages, all but
// esbuild itself. `node --import tsx harness/host/bundle.ts OUT` builds one (ci/ensure.sh does).
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { checkoutRoot } from '../kernel/root.ts';

/**
 * Bundles harness/cli/main.ts into `out` plus content-hashed chunks next to it: each command's
 * modules are a chunk loaded when that command runs, so `cnilab modes` or `status` parses a
 * fraction of the code. Built aside and moved in chunks first, entry last (a rename each), so a run
 * starting meanwhile sees either the old entry or the new one, and the chunks of either.
 */
export async function bundleCli(out: string): Promise<void> {
  const dir = dirname(out);
  const tmp = `${dir}/.build-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // Loaded here, not at the top: every CLI start would pay for esbuild's API otherwise.
  const { build, stop } = await import('esbuild');
  try {
    await build({
      entryPoints: { [basename(out, '.mjs')]: `${checkoutRoot()}/harness/cli/main.ts` },
      bundle: true,
      splitting: true,
      platform: 'node',
      format: 'esm',
      external: ['esbuild'],
      outdir: tmp,
      outExtension: { '.js': '.mjs' },
      chunkNames: 'chunk-[hash]',
      logLevel: 'error',
      minifyWhitespace: true,
      minifySyntax: true,
      // CommonJS packages in an ES module bundle still call require() for node's builtins.
      banner: { js: "import { createRequire as __cnilabRequire } from 'node:module'; const require = __cnilabRequire(import.meta.url);" },
    });
    const files = readdirSync(tmp).sort((a, b) => Number(a === basename(out)) - Number(b === basename(out)));
    for (const f of files) renameSync(`${tmp}/${f}`, `${dir}/${f}`);
  } finally {
    // esbuild's service process would keep a library user's process alive: one build, then stop it.
    await stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]).endsWith('/harness/host/bundle.ts') && process.argv[2]) {
  await bundleCli(resolve(process.argv[2]));
}
