// Calico IPIP on a host whose kernel has no ipip: the modes run in a User-Mode Linux guest, the
// results come back marked uml, and IPIP is what the captures show. Also the IPIP <-> VXLAN and
// Always -> CrossSubnet -> Never transitions, inside the guest, with the stale-state check.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { assertEncap, assertPath, assertRunPassed } from '../assertions/index.ts';
import { umlBackend } from '../harness/backends/uml/index.ts';
import { runModes } from '../harness/run/run-modes.ts';
import { loadTopology } from '../harness/topology/load.ts';
import { parseModeList } from '../harness/modes/registry.ts';
import { execFileSync } from 'node:child_process';
import { assertIpipCaptured, cli, netnsOf, ROOT, ROOT_SKIP, tmpOut, uniqueLab, waitFor } from './helpers.ts';
import { tmpdir } from 'node:os';

const uml = await umlBackend.available();
const SKIP = ROOT_SKIP || (uml.ok ? false : `uml backend unavailable: ${uml.detail}`);

describe('Calico IPIP through the uml backend', { skip: SKIP }, () => {
  test('IPIP Always, CrossSubnet, Never (BGP), VXLAN and back to IPIP, each checked on the wire', { timeout: 600_000 }, async () => {
    const out = tmpOut();
    try {
      const seq = 'calico-ipip-always,calico-ipip-crosssubnet,calico-bgp,calico-vxlan-always,calico-ipip-always,calico-vxlan-crosssubnet';
      // Through the library, as a user's own test would: the same call `cnilab run --backend uml` makes.
      const { runs } = await runModes({
        topology: await loadTopology(`${ROOT}/topologies/two-subnets.yaml`),
        modes: parseModeList(seq),
        backend: 'uml',
        outDir: out,
        name: uniqueLab('um'),
        count: 2,
      });
      assert.deepEqual(
        runs.map((r) => r.mode),
        seq.split(','),
      );
      for (const r of runs) {
        assert.equal(r.backend, 'uml');
        assertRunPassed(r);
        if (r.switchedFrom) assert.deepEqual(r.stale, [], `${r.switchedFrom} -> ${r.mode} left state`);
      }
      const [always, cross] = runs;
      assertPath(always!, 'same-subnet', { reachable: true, encap: 'ipip' });
      assertPath(always!, 'cross-subnet', { reachable: true, encap: 'ipip' });
      assertPath(cross!, 'same-subnet', { reachable: true, encap: 'none' });
      assertEncap(cross!, 'n1/p1', 'n3/p2', 'ipip');
      assertPath(runs[3]!, 'cross-subnet', { encap: 'vxlan', vni: 4096, port: 4789 });
      assertPath(runs[4]!, 'cross-subnet', { encap: 'ipip' });
      // The guest's captures came back to the host, and tshark sees IP protocol 4 in them.
      assertIpipCaptured(`${out}/${always!.captures![0]}`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('Ctrl-C while a uml guest runs', { skip: SKIP }, () => {
  test('the guest, its temp files and the host lab are all gone', { timeout: 120_000 }, async () => {
    const name = uniqueLab('us');
    const p = cli(['run', '--modes', 'calico-ipip-always,flannel-vxlan', '--name', name, '--out', tmpOut()]);
    let stderr = '';
    p.stderr!.on('data', (d) => (stderr += d));
    await waitFor('the guest to boot', () => /uml\| .*underlay: \d+ namespaces/.test(stderr), 60_000);
    p.kill('SIGINT');
    const code = await new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
    assert.equal(code, 130, stderr.slice(-1500));
    const guests = execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('linux.uml') && l.includes(name));
    assert.deepEqual(guests, []);
    assert.deepEqual(
      readdirSync(tmpdir()).filter((d) => d.startsWith('cnilab-uml-') && d.includes(name)),
      [],
    );
    assert.deepEqual(netnsOf(name), []);
  });
});
