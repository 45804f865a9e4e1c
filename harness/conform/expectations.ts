// An expectations file: what the user intends per pod path, kept next to the config in their repo.
//   same-subnet: none
//   cross-subnet: vxlan
// (YAML or JSON; optionally under a top-level `expect:`). Read before anything is built: a wrong
// path or wire is one line naming the file and the key.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { UsageError } from '../errors.ts';
import type { PathKind } from '../results/schema.ts';
import { EXPECTATIONS, type Expectation, PATHS } from './conform.ts';

export function readExpectations(file: string): Partial<Record<PathKind, Expectation>> {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const why =
      (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not YAML or JSON: ${(e as Error).message.split('\n')[0]}`;
    throw new UsageError(`--expectations ${file}: ${why}`, 'give a file of PATH: WIRE lines, e.g. "cross-subnet: vxlan"');
  }
  const o = raw && typeof raw === 'object' && 'expect' in raw ? (raw as { expect: unknown }).expect : raw;
  if (!o || typeof o !== 'object' || Array.isArray(o))
    throw new UsageError(`${file}: not a map of PATH: WIRE`, 'write e.g. "same-subnet: none" and "cross-subnet: vxlan", one per line');
  return Object.fromEntries(Object.entries(o).map(([k, v]) => expectation(k, v, file)));
}

/** One intended path, from a flag or a file: a path and a wire, or one line naming `where`. */
export function expectation(path: string, wire: unknown, where: string): [PathKind, Expectation] {
  if (!PATHS.includes(path as PathKind)) throw new UsageError(`${where}: "${path}" is not a path`, `use ${PATHS.join(', ')} (PATH=WIRE)`);
  if (!EXPECTATIONS.includes(wire as Expectation))
    throw new UsageError(`${where}: ${path}: "${String(wire)}" is not a wire`, `use ${EXPECTATIONS.join(', ')}`);
  return [path as PathKind, wire as Expectation];
}
