// The real calico-node (built from the calico module by ci/ensure.sh) in the lab: its daemons on the
// lab's kube-apiserver, pods through the Calico CNI plugin with calico-ipam, the wire of every pool
// mode, its kernel state compared with cnilab's model (0 differences), a pool switch with what it
// leaves recorded, nothing on the host's fixed paths, and no leaks (Ctrl-C, SIGKILL + gc).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { assertPath, assertRunPassed } from '../assertions/index.ts';
import { Lab } from '../harness/backends/netns/lab.ts';
import { bird1Binary, calicoCniBinary, calicoNodeBinary, kubeApiserverBinary } from '../harness/host/daemons.ts';
import { checkMode } from '../harness/check/index.ts';
import { getMode } from '../harness/modes/registry.ts';
import { contains, cidr, ipv4 } from '../harness/net/ipv4.ts';
import type { ResultsFile } from '../harness/results/schema.ts';
import { loadTopology } from '../harness/topology/load.ts';
import {
  assertRealCalico,
  clean,
  cli,
  inNetns,
  killThenGc,
  leaveForOwnMode,
  labProcesses,
  ROOT,
  ROOT_SKIP,
  runCli,
  tmpOut,
  uniqueLab,
  waitFor,
} from './helpers.ts';

const parts = await Promise.all([calicoNodeBinary(), calicoCniBinary(), bird1Binary(), kubeApiserverBinary()]);
const missing = parts.find((b) => !b.ok);
const SKIP = ROOT_SKIP || (missing && !missing.ok && missing.detail) || false;
const topology = await loadTopology(`${ROOT}/topologies/two-subnets.yaml`);
/** A node's nftables rules (nft's warning about tables iptables-nft manages, the kubelet hint's, is not wanted in the output). */
const nftRules = (netns: string) =>
  execFileSync('ip', ['netns', 'exec', netns, 'nft', 'list', 'ruleset'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

describe('the real calico-node on the two-subnets lab', { skip: SKIP }, () => {
  test('VXLAN Always, then CrossSubnet, then BGP, from the CLI: each passes on the wire with 0 model differences', async () => {
    const name = uniqueLab('cn');
    const out = tmpOut();
    const r = await runCli([
      'run',
      '--modes',
      'calico-node-vxlan-always,calico-node-vxlan-crosssubnet,calico-node-bgp',
      '--name',
      name,
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile;
    const [always, cross, bgp] = results.runs;
    assertRunPassed(always!);
    assertRealCalico(always!, 'calico-vxlan-always', { ipipMode: 'Never', vxlanMode: 'Always' });
    assertPath(always!, 'same-subnet', { reachable: true, encap: 'vxlan', vni: 4096, port: 4789 });
    assertPath(always!, 'cross-subnet', { reachable: true, encap: 'vxlan', vni: 4096, port: 4789 });
    // felix's own VTEP MAC ("f" + SHA-1 of the node name), read back from the Node's VXLAN tunnel address.
    assert.match(always!.daemonFacts!.calico!.nodes.n1!.vxlanTunnelAddr ?? '', /^10\.244\./);

    assertRunPassed(cross!);
    assertRealCalico(cross!, 'calico-vxlan-crosssubnet', { ipipMode: 'Never', vxlanMode: 'CrossSubnet' });
    assertPath(cross!, 'same-subnet', { reachable: true, encap: 'none' });
    assertPath(cross!, 'cross-subnet', { reachable: true, encap: 'vxlan', vni: 4096, port: 4789 });
    // The pool was patched, not made again (same blocks), and the running calico-node followed it.
    assert.deepEqual(cross!.daemonFacts!.leases, always!.daemonFacts!.leases);
    assert.equal(always!.daemonFacts!.calico!.switched, 'calico-node started');
    assert.equal(cross!.daemonFacts!.calico!.switched, 'IPPool patched; calico-node kept running');
    assert.deepEqual(cross!.daemonFacts!.leftBehind, [], 'Always -> CrossSubnet leaves nothing');

    assertRunPassed(bgp!);
    assertRealCalico(bgp!, 'calico-bgp', { ipipMode: 'Never', vxlanMode: 'Never' });
    assertPath(bgp!, 'same-subnet', { reachable: true, encap: 'none' });
    const bird = parts[2]!;
    assert.deepEqual(bgp!.daemonFacts!.calico!.daemons, [
      '-startup',
      '-allocate-tunnel-addrs',
      'felix (supervised)',
      'confd',
      `BIRD ${bird.ok ? bird.version : '?'}`,
    ]);
    // A fact about Calico: felix's CrossSubnet routes (proto 80, onlink) and its blackholes outlive the
    // switch to BGP, where they keep BIRD from writing its own; recorded, then removed.
    // Another networking backend (BIRD): calico-node started again, as after a change to calico_backend.
    assert.equal(bgp!.daemonFacts!.calico!.switched, 'calico-node started');
    const left = bgp!.daemonFacts!.leftBehind ?? [];
    assert.ok(left.length > 0, 'the switch from CrossSubnet leaves something');
    for (const l of left)
      assert.match(
        l,
        /^n[123]: (route 10\.244\.\d+\.\d+\/26 via 172\.31\.10\.1[12] dev eth0 onlink|blackhole 10\.244\.\d+\.\d+\/26) proto 80$/,
      );
    assert.ok(
      left.some((l) => / onlink proto 80$/.test(l)),
      'the on-subnet routes among them',
    );
    assert.match(readFileSync(`${out}/report.md`, 'utf8'), /calico-node v3\.28\.5/);
    clean(name);
  });

  test("calico-node keeps to the lab's folders; BGP -> VXLAN leaves BIRD's routes (recorded); leaving removes all", async () => {
    const before = ['/var/lib/calico', '/var/run/calico', '/var/log/calico'].filter(existsSync);
    const name = uniqueLab('cp');
    const lab = await Lab.up(topology, getMode('calico-node-bgp'), { name });
    try {
      for (const n of topology.nodes) {
        const ns = lab.names.node(n);
        // -startup and -allocate-tunnel-addrs ran once; felix (under its supervisor), confd and BIRD run.
        assert.equal(inNetns(ns, 'calico-node').length, 2, `felix and confd on ${n.name}`);
        assert.equal(inNetns(ns, 'bird').length, 1, `BIRD on ${n.name}`);
        assert.equal(readFileSync(`/run/cnilab/${name}/calico/${n.name}/startup/upper/calico/nodename`, 'utf8').trim(), n.name);
        assert.match(readFileSync(`/run/cnilab/${name}/calico/${n.name}/felix/upper/calico/mtu`, 'utf8'), /^1500/);
      }
      // Pods hold calico-ipam's addresses, from their node's blocks.
      const leases = lab.daemonReport()!.daemonFacts!.leases;
      for (const p of lab.pods)
        assert.ok(
          leases[p.node]!.split(',').some((b) => contains(cidr(b), ipv4(p.ip))),
          `${p.id} ${p.ip} is in ${p.node}'s blocks ${leases[p.node]}`,
        );
      assert.deepEqual(['/var/lib/calico', '/var/run/calico', '/var/log/calico'].filter(existsSync), before, 'nothing made on the host');
      const routes = execFileSync('ip', ['-n', lab.names.node('n1'), 'route'], { encoding: 'utf8' });
      assert.match(routes, /blackhole 10\.244\.\d+\.\d+\/26 proto bird/);

      for (const n of topology.nodes) {
        const ns = lab.names.node(n);
        assert.match(nftRules(ns), /cali-/);
      }
    } catch (e) {
      await lab.down();
      throw e;
    }
    try {
      // BGP -> VXLAN (another networking backend: calico-node started again): BIRD's routes persist
      // (its kernel protocol says `persist`) and felix leaves them be until they are gone: recorded,
      // removed, and then felix's own are there, with 0 differences from the model.
      await lab.switchTo(getMode('calico-node-vxlan-always'));
      const d = lab.daemonReport()!;
      assert.equal(d.daemonFacts!.calico!.switched, 'calico-node started');
      const left = d.daemonFacts!.leftBehind ?? [];
      assert.ok(left.length > 0 && left.every((l) => / proto bird$/.test(l)), left.join('\n'));
      assert.deepEqual(d.modelDiff?.differences, []);
      assert.deepEqual(await lab.staleState(), []);
      assertRunPassed(await checkMode(lab, getMode('calico-node-vxlan-always'), { outDir: tmpOut(), count: 1 }));
    } catch (e) {
      await lab.down();
      throw e;
    }
    // Leaving for another kind: felix's rules, devices and routes go with its daemons.
    await leaveForOwnMode(lab, ['calico-node', 'bird', 'sh'], () => {
      for (const n of topology.nodes) {
        const rules = nftRules(lab.names.node(n));
        assert.doesNotMatch(rules, /cali-/, `felix's rules gone on ${n.name}`);
      }
    });
  });

  test('BGP with the router as route reflector: a BGPPeer per subnet, the mesh off, plain across subnets', async () => {
    const name = uniqueLab('cr');
    const out = tmpOut();
    const r = await runCli([
      'run',
      '--modes',
      'calico-node-bgp',
      '--topology',
      `${ROOT}/topologies/two-subnets-rr.yaml`,
      '--name',
      name,
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stdout.slice(-3000) + r.stderr);
    const [bgp] = (JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile).runs;
    assertRunPassed(bgp!);
    assertRealCalico(bgp!, 'calico-bgp', { ipipMode: 'Never', vxlanMode: 'Never' });
    // Across the router, unencapsulated: the router learned every block from the reflection.
    assertPath(bgp!, 'cross-subnet', { reachable: true, encap: 'none' });
    assert.deepEqual(bgp!.daemonFacts!.calico!.bgp, [
      'BGPConfiguration default: {"nodeToNodeMeshEnabled":false,"asNumber":64512}',
      `BGPPeer cnilab-router-a: {"peerIP":"172.31.10.1","asNumber":64512,"nodeSelector":"cnilab.io/subnet == 'a'"}`,
      `BGPPeer cnilab-router-b: {"peerIP":"172.31.20.1","asNumber":64512,"nodeSelector":"cnilab.io/subnet == 'b'"}`,
      "the router r1's BIRD (Debian's bird2) as the route reflector: cnilab's, not Calico's",
    ]);
    clean(name);
  });

  test('Ctrl-C while calico-node runs, and gc after a SIGKILL: no daemon survives', async () => {
    const name = uniqueLab('ci');
    const p = cli(['run', '--modes', 'calico-node-bgp', '--name', name, '--out', tmpOut()], {
      CNILAB_FAULT: 'hang-program:calico-node-bgp',
    });
    await waitFor('BIRD to run', () => labProcesses(name).some((l) => /\/bird -c /.test(l)), 60_000);
    assert.ok(
      labProcesses(name).some((l) => /calico-node -felix$/.test(l)),
      'felix runs',
    );
    p.kill('SIGINT');
    assert.equal(await new Promise((r) => p.on('exit', (c) => r(c))), 130);
    clean(name);

    const victim = uniqueLab('ck');
    const k = cli(['run', '--modes', 'calico-node-vxlan-always', '--name', victim, '--out', tmpOut()], {
      CNILAB_FAULT: 'hang-program:calico-node-vxlan-always',
    });
    await waitFor('felix to run', () => labProcesses(victim).some((l) => /calico-node -felix$/.test(l)), 60_000);
    await killThenGc(k, victim);
  });
});
