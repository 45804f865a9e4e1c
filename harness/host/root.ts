// The checkout cnilab runs from: the folder whose package.json names cnilab, found by walking up
// from this module. The same code runs from its sources and from a bundle (.cnilab/cli/,
// .cnilab/agent/), where every module's import.meta.url is the bundle's own.
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function checkoutRoot(): string {
  if (root) return root;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const pkg = `${dir}/package.json`;
    if (existsSync(pkg) && /"name":\s*"cnilab"/.test(readFileSync(pkg, 'utf8'))) {
      root = dir;
      return dir;
    }
    if (dirname(dir) === dir) throw new Error(`cnilab: no cnilab checkout above ${fileURLToPath(import.meta.url)}`);
  }
}
