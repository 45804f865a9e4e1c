// A structural check of results.json, so `compare` refuses a wrong file with the JSON path at fault.
import type { ResultsFile } from '../results/schema.ts';

export function validateResults(v: unknown): { ok: true; value: ResultsFile } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const obj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  const oneOf = (path: string, x: unknown, allowed: readonly string[]) => {
    if (typeof x !== 'string' || !allowed.includes(x))
      errors.push(`${path}: expected one of ${allowed.join('|')}, got ${JSON.stringify(x)}`);
  };
  if (!obj(v)) return { ok: false, errors: ['(top): expected an object'] };
  if (!obj(v.topology) || !Array.isArray(v.topology.nodes)) errors.push('topology.nodes: expected an array');
  if (!Array.isArray(v.runs)) errors.push('runs: expected an array');
  else
    for (const [i, run] of (v.runs as unknown[]).entries()) {
      const p = `runs[${i}]`;
      if (!obj(run)) {
        errors.push(`${p}: expected an object`);
        continue;
      }
      if (typeof run.mode !== 'string') errors.push(`${p}.mode: expected a string`);
      oneOf(`${p}.backend`, run.backend, ['netns', 'uml', 'qemu', 'kind']);
      oneOf(`${p}.status`, run.status, ['passed', 'failed', 'skipped']);
      if (!Array.isArray(run.pairs)) {
        errors.push(`${p}.pairs: expected an array`);
        continue;
      }
      for (const [k, pair] of (run.pairs as unknown[]).entries()) {
        const q = `${p}.pairs[${k}]`;
        if (!obj(pair)) {
          errors.push(`${q}: expected an object`);
          continue;
        }
        for (const f of ['src', 'dst']) if (typeof pair[f] !== 'string') errors.push(`${q}.${f}: expected a string`);
        oneOf(`${q}.path`, pair.path, ['same-node', 'same-subnet', 'cross-subnet']);
        for (const side of ['expected', 'observed']) {
          const w = pair[side];
          if (!obj(w)) {
            errors.push(`${q}.${side}: expected an object`);
            continue;
          }
          if (typeof w.reachable !== 'boolean') errors.push(`${q}.${side}.reachable: expected true or false`);
          oneOf(`${q}.${side}.encap`, w.encap, ['none', 'vxlan', 'ipip', 'udp']);
        }
        if (typeof pair.ok !== 'boolean') errors.push(`${q}.ok: expected true or false`);
      }
    }
  return errors.length ? { ok: false, errors } : { ok: true, value: v as unknown as ResultsFile };
}
