// cnilab conform end to end: the user's flannel config read, linted, and proven on the wire in a
// lab programmed with exactly its values (the real flanneld where it is built, else the model).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ResultsFile } from '../harness/results/schema.ts';
import { netnsOf, ROOT, ROOT_SKIP, runCli, tmpOut, uniqueLab } from './helpers.ts';

const FIX = `${ROOT}/test/fixtures/conform`;
const results = (out: string) => JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile;

describe('cnilab conform on the wire', { skip: ROOT_SKIP }, () => {
  test('vxlan + DirectRouting, /25 leases from 10.50/16: intended and shown on the wire, in every output', async () => {
    const out = tmpOut();
    const name = uniqueLab('cf');
    const r = await runCli([
      'conform',
      `${FIX}/flannel-directrouting.yaml`,
      '--expect',
      'same-subnet=none',
      '--expect',
      'cross-subnet=vxlan',
      '--out',
      out,
      '--name',
      name,
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const c = results(out).conformance!;
    assert.equal(c.verdict, 'conformant');
    assert.ok('mode' in c.proof && /vxlan-directrouting$/.test(c.proof.mode), JSON.stringify(c.proof));
    assert.deepEqual(
      c.paths.map((p) => [p.path, p.expected.encap, p.intended?.ok, p.wire && p.wire.ok === p.wire.pairs && p.wire.pairs > 0]),
      [
        ['same-node', 'none', undefined, true],
        ['same-subnet', 'none', true, true],
        ['cross-subnet', 'vxlan', true, true],
      ],
    );
    assert.equal(c.dataPlane.subnetLen!.value, 25);
    // The lab used the config's network: every pod address is in 10.50.0.0/16.
    assert.ok(results(out).runs[0]!.pairs.length === 30);
    assert.match(readFileSync(`${out}/report.md`, 'utf8'), /### Conformance: flannel, conformant/);
    assert.match(readFileSync(`${out}/report.html`, 'utf8'), /<h2>Conformance: flannel, conformant<\/h2>/);
    assert.match(readFileSync(`${out}/junit.xml`, 'utf8'), /<testsuite name="conformance" tests="3" failures="0"/);
    assert.deepEqual(netnsOf(name), []);
  });

  test('a custom VNI and port are what crosses the wire', async () => {
    const out = tmpOut();
    const r = await runCli(['conform', `${FIX}/flannel-custom-vni-port.yaml`, '--out', out]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const run = results(out).runs[0]!;
    const across = run.pairs.filter((p) => p.path !== 'same-node');
    assert.ok(across.length > 0 && across.every((p) => p.observed.encap === 'vxlan' && p.observed.vni === 42 && p.observed.port === 4790));
  });

  test('host-gw across a router: the finding, and the wire agrees (cross-subnet pairs unreachable); exit 1', async () => {
    const out = tmpOut();
    const r = await runCli(['conform', `${FIX}/flannel-host-gw.json`, '--out', out]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /ERROR host-gw-across-subnets at .*flannel-host-gw\.json:3/);
    const c = results(out).conformance!;
    assert.equal(c.verdict, 'not conformant');
    const cross = c.paths.find((p) => p.path === 'cross-subnet')!;
    assert.equal(cross.expected.reachable, false);
    assert.ok(cross.wire && cross.wire.pairs > 0 && cross.wire.ok === cross.wire.pairs, 'the wire showed them unreachable, as said');
    assert.match(readFileSync(`${out}/junit.xml`, 'utf8'), /<failure message="host-gw needs every node/);
  });

  test('--lint-only builds nothing; bad input is one line and exit 2', async () => {
    const lint = await runCli(['conform', `${FIX}/broken-flannel.yaml`, '--lint-only']);
    assert.equal(lint.code, 1);
    assert.match(lint.stdout, /ERROR vni-range at .*broken-flannel\.yaml:16/);
    assert.doesNotMatch(lint.stdout, /proving it on the wire/);
    for (const args of [
      ['conform', `${FIX}/not-yaml.yaml`],
      ['conform', `${FIX}/calico-ippool.yaml`],
      ['conform', `${FIX}/flannel-vxlan.yaml`, '--expect', 'same-subnet=gre'],
      ['conform', `${FIX}/nowhere.yaml`],
    ]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 2, `one line and its fix: ${r.stderr}`);
    }
  });
});
