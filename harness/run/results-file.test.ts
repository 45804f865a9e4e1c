import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { getMode } from '../modes/registry.ts';
import type { ResultsFile, RunResult } from '../results/schema.ts';
import { loadTopology } from '../topology/load.ts';
import { finishedRuns, ResultsRecord } from './results-file.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const run = (mode: string, status: RunResult['status'] = 'passed'): RunResult => ({
  mode,
  family: getMode(mode).family,
  backend: 'netns',
  status,
  pairs: [],
});
const read = (dir: string) => JSON.parse(readFileSync(`${dir}/results.json`, 'utf8')) as ResultsFile;

test('results.json is marked incomplete as modes finish, in the modes order, then whole; --resume reads it back', async () => {
  const dir = `${mkdtempSync(`${tmpdir()}/cnilab-record-`)}/out`;
  try {
    const topology = await loadTopology(`${ROOT}topologies/two-subnets.yaml`);
    const modes = ['flannel-host-gw', 'flannel-vxlan', 'calico-bgp'].map(getMode);
    const record = new ResultsRecord({ outDir: dir, topology, modes });
    record.incomplete('running');
    assert.deepEqual(read(dir).incomplete, { reason: 'running', done: 0, of: 3 });
    record.add(run('calico-bgp'));
    record.add(run('flannel-host-gw', 'failed'));
    const partial = read(dir);
    assert.deepEqual(
      partial.runs.map((r) => r.mode),
      ['flannel-host-gw', 'calico-bgp'],
      'listed in the order asked, not the order finished',
    );
    assert.deepEqual(partial.incomplete, { reason: 'running', done: 2, of: 3 });
    assert.equal(partial.topology.nodes.length, 3);
    // A later run resumes from this file: the failed mode is kept as a finished run.
    assert.deepEqual([...finishedRuns(dir, topology.name).keys()], ['flannel-host-gw', 'calico-bgp']);
    const again = new ResultsRecord({ outDir: dir, topology, modes, previous: finishedRuns(dir, topology.name) });
    again.add(run('flannel-vxlan'));
    const whole = again.complete([run('flannel-host-gw', 'failed'), run('flannel-vxlan'), run('calico-bgp')], { underlay: undefined });
    assert.equal(whole.incomplete, undefined);
    assert.ok(!('underlay' in whole), 'an undefined part is left out, not written as null');
    assert.deepEqual(read(dir), whole, 'the file is what complete() returned');
    assert.match(whole.meta?.cnilab ?? '', /^\d+\.\d+\.\d+/);
    assert.throws(() => finishedRuns(dir, 'other'), /is from topology "two-subnets", not "other"/);
  } finally {
    rmSync(dirname(dir), { recursive: true, force: true });
  }
});
