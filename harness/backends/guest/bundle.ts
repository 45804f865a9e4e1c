// The agent a guest runs, as one plain-JS file: under qemu's emulation, starting cnilab through tsx
// (transpiling and resolving ~90 modules) took 23 s, node itself 2.6 s. esbuild bundles the
// sources and their packages (all but esbuild) on the host; under 9p, each small file read costs.
import { mkdirSync, renameSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, stop } from 'esbuild';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
let built: Promise<string> | undefined;

/** Builds `.cnilab/agent/cnilab.mjs` once per process (fresh from the sources every run) and returns its path. */
export function agentBundle(): Promise<string> {
  built ??= (async () => {
    const dir = `${ROOT}/.cnilab/agent`;
    mkdirSync(dir, { recursive: true });
    const out = `${dir}/cnilab.mjs`;
    const tmp = `${out}.${process.pid}.tmp.mjs`;
    await build({
      entryPoints: [`${ROOT}/harness/cli/main.ts`],
      bundle: true,
      platform: 'node',
      format: 'esm',
      external: ['esbuild'],
      outfile: tmp,
      logLevel: 'error',
      // CommonJS packages in an ES module bundle still call require() for node's builtins.
      banner: { js: "import { createRequire as __cnilabRequire } from 'node:module'; const require = __cnilabRequire(import.meta.url);" },
    });
    // esbuild's service process would keep a library user's process alive: one build, then stop it.
    await stop();
    // Another run may be building at the same moment: a rename replaces the file whole.
    renameSync(tmp, out);
    return out;
  })();
  return built;
}
