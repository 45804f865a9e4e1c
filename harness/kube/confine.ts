// Where a path a manifest names may land on the host. cnilab has no container runtime: a pod's
// files live under its node's folder in the lab (the node root), so every path a manifest names
// (mount paths, ConfigMap items, hostPaths, init container targets, path flags, PATH entries) is a
// path inside the container that cnilab maps under that root. A manifest is untrusted input and
// cnilab runs as root: a path that would climb out of the root with `..`, or reach outside it
// through a symlink, is refused before anything is written. The API server's own validation
// refuses `..` only in items[].path, subPath and hostPath.path; mountPath, args and env get past
// it, so cnilab enforces this itself. Calico's hostPaths (/var/run/calico, /var/lib/calico, ...)
// go through the same functions.
import { closeSync, constants, existsSync, fchmodSync, lstatSync, mkdirSync, openSync, realpathSync, writeSync } from 'node:fs';
import { dirname, posix } from 'node:path';
import { clip, CnilabError } from '../errors.ts';

/** A field of a pod spec that names something cnilab refuses, as a path into the object. */
export class PodSpecError extends CnilabError {
  readonly exitCode = 2;
  constructor(
    /** Path into the DaemonSet object, e.g. ['spec','template','spec','containers',0,'args',2]. */
    readonly field: (string | number)[],
    readonly value: string,
    readonly why: string,
    readonly fix: string,
  ) {
    super(`${fieldName(field)} = ${clip(JSON.stringify(value))}: ${why}\n    fix: ${fix}`);
    this.name = 'PodSpecError';
  }
}

/** `spec.template.spec.containers[0].args[2]`. */
export const fieldName = (field: readonly (string | number)[]) =>
  field.map((f, i) => (typeof f === 'number' ? `[${f}]` : i === 0 ? f : `.${f}`)).join('');

/**
 * A path as the container sees it: made absolute against `cwd` and normalised. A `..` that would
 * climb above the container's `/` is refused: inside a container it would stop at `/`, but a
 * manifest that writes one means to reach the host, and its author should be told.
 */
export function containerPath(path: string, field: (string | number)[], cwd = '/'): string {
  if (path.includes('\0')) throw new PodSpecError(field, path, 'a path with a NUL byte', 'remove it');
  const abs = path.startsWith('/') ? path : `${cwd.replace(/\/$/, '')}/${path}`;
  let depth = 0;
  for (const part of abs.split('/')) {
    if (part === '..') depth--;
    else if (part !== '' && part !== '.') depth++;
    if (depth < 0)
      throw new PodSpecError(
        field,
        path,
        "its `..` climbs above the container's root: it would land outside the node's folder in the lab",
        'write the path without `..` (a path inside the container, as the image has it)',
      );
  }
  return posix.normalize(abs).replace(/(.)\/$/, '$1');
}

/** The node path of a container path: under `root`, never outside it (lexically; see `assertInside` for symlinks). */
export function underRoot(root: string, path: string, field: (string | number)[]): string {
  const p = containerPath(path, field);
  return p === '/' ? root : `${root}${p}`;
}

/** The nearest ancestor of `p` that exists, resolved through symlinks. */
function realAncestor(p: string): string {
  let cur = p;
  while (!existsSync(cur) && dirname(cur) !== cur) cur = dirname(cur);
  return realpathSync(cur);
}

/** Where `p` (absolute) really is: its nearest existing ancestor resolved through symlinks, the rest as written. */
export function resolvedPath(p: string): string {
  let cur = posix.normalize(p);
  while (!existsSync(cur) && dirname(cur) !== cur) cur = dirname(cur);
  return posix.join(realpathSync(cur), posix.relative(cur, posix.normalize(p)));
}

/**
 * Refuses a node path that reaches outside `root` through a symlink (or `..`): the deepest part
 * of it that exists is resolved, and must be `root` or inside it.
 */
export function assertInside(root: string, nodePath: string, what: string): void {
  const r = realAncestor(root);
  const real = realAncestor(nodePath);
  const inside = real === r || real.startsWith(`${r}/`);
  let link = false;
  try {
    link = lstatSync(nodePath).isSymbolicLink();
  } catch {
    /* not there yet */
  }
  if (!inside || link)
    throw new ConfinementError(`${what}: ${clip(nodePath)} resolves to ${clip(real)}${link ? ' (a symlink)' : ''}, outside ${root}`);
}

/** A write that would have left the lab's folder: refused, nothing written. */
export class ConfinementError extends CnilabError {
  readonly exitCode = 2;
  constructor(message: string) {
    super(`${message}\n    fix: a manifest's paths stay inside the pod; nothing was written`);
    this.name = 'ConfinementError';
  }
}

/** mkdir -p inside `root` only: every folder made is 0700 (a pod's folders can hold tokens). */
export function mkdirInside(root: string, dir: string, what: string): void {
  assertInside(root, dir, what);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  assertInside(root, dir, what);
}

/**
 * Writes `content` at `nodePath`, inside `root` only, never through a symlink (O_NOFOLLOW on the
 * file, its folder resolved and checked just before), with `mode`.
 */
export function writeInside(root: string, nodePath: string, content: string, what: string, mode = 0o600): void {
  mkdirInside(root, dirname(nodePath), what);
  assertInside(root, nodePath, what);
  const fd = openSync(nodePath, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}
