// The checkout cnilab runs from: the folder whose package.json names cnilab, found by walking up
// from this module. The same code runs from its sources and from a bundle (.cnilab/cli/,
// .cnilab/agent/), where every module's import.meta.url is the bundle's own.
import { LabError } from '../errors.ts';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * How cnilab runs its Python helpers (the .py files under harness/): Debian's own interpreter (ci/host-tools.json
 * installs it), isolated (-I -S: no user site, no environment), so a version manager's shim first in
 * PATH (150 ms a start) is never used. They need only the standard library (ctypes for setns).
 */
export const pythonHelper = (relPath: string): string[] => ['/usr/bin/python3', '-I', '-S', `${checkoutRoot()}/${relPath}`];

export function checkoutRoot(): string {
  if (root) return root;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const pkg = `${dir}/package.json`;
    if (existsSync(pkg) && /"name":\s*"cnilab"/.test(readFileSync(pkg, 'utf8'))) {
      root = dir;
      return dir;
    }
    if (dirname(dir) === dir) throw new LabError(`no cnilab checkout (package.json and harness/) above ${fileURLToPath(import.meta.url)}`);
  }
}
