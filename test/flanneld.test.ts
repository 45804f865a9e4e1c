// The real flanneld (built from its Go module by ci/ensure.sh) in the lab: each backend checked on
// the wire, its kernel state compared with cnilab's model, a restart-based switch, and no leaks.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { assertPath, assertRunPassed, assertUnreachable } from '../assertions/index.ts';
import { Lab } from '../harness/backends/netns/lab.ts';
import { checkMode } from '../harness/check/index.ts';
import { etcdBinary, flannelCniBinary, flanneldBinary, GO_TOOLS } from '../harness/host/daemons.ts';
import { cniBinDir } from '../harness/node/cni.ts';
import { getMode } from '../harness/modes/registry.ts';
import { contains, cidr, ipv4 } from '../harness/net/ipv4.ts';
import type { ResultsFile, RunResult } from '../harness/results/schema.ts';
import { loadTopology } from '../harness/topology/load.ts';
import {
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

const [flanneld, etcd, flannelCni] = await Promise.all([flanneldBinary(), etcdBinary(), flannelCniBinary()]);
const SKIP = ROOT_SKIP || (!flanneld.ok && flanneld.detail) || (!etcd.ok && etcd.detail) || false;
const topology = await loadTopology(`${ROOT}/topologies/two-subnets.yaml`);

/** A fresh lab in `mode`, checked on the wire, always torn down. */
async function fresh(mode: string, more: (lab: Lab, r: RunResult) => void | Promise<void> = () => {}): Promise<RunResult> {
  const name = uniqueLab('fd');
  const lab = await Lab.up(topology, getMode(mode), { name });
  try {
    const r = await checkMode(lab, getMode(mode), { outDir: tmpOut(), count: 1 });
    await more(lab, r);
    return r;
  } finally {
    await lab.down();
    clean(name);
  }
}

/** The daemon is the real one, pods got their addresses from the leases it took, and the model agrees with it. */
function assertRealDaemon(r: RunResult, model?: string): void {
  assert.equal(r.daemon, `flanneld ${GO_TOOLS.flanneld!.version}`);
  // Its pods came from the real flannel CNI plugin, through kube-flannel.yml's chain, where it is built.
  if (flannelCni.ok)
    assert.match(r.daemonFacts!.cni, new RegExp(`^flannel CNI plugin ${GO_TOOLS['flannel-cni']!.version} .*chain flannel -> portmap`));
  else assert.match(r.daemonFacts!.cni, /delegation reproduced/);
  const leases = r.daemonFacts!.leases;
  assert.deepEqual(Object.keys(leases).sort(), ['n1', 'n2', 'n3']);
  for (const p of r.pairs) {
    const [node] = p.src.split('/');
    assert.ok(leases[node!], `${p.src} has a lease`);
  }
  if (model) {
    assert.equal(r.modelDiff?.model, model);
    assert.ok((r.modelDiff?.compared ?? 0) > 0, 'the model planned something to compare');
    assert.deepEqual(r.modelDiff?.differences, [], `cnilab's ${model} differs from flanneld`);
  } else assert.equal(r.modelDiff, undefined);
}

describe('the real flanneld on the two-subnets lab', { skip: SKIP }, () => {
  test('host-gw: its own routes, plain on one subnet, cross-subnet pairs fail with the real daemon too', async () => {
    const r = await fresh('flanneld-host-gw', (lab) => {
      // One flanneld per node and the lab's etcd, all in the lab's namespaces; pods on the leases.
      for (const n of topology.nodes) assert.equal(inNetns(lab.names.node(n), 'flanneld').length, 1, `flanneld on ${n.name}`);
      assert.equal(inNetns(lab.names.datastore(), 'etcd').length, 1, 'etcd in its namespace');
      for (const p of lab.pods) {
        const lease = cidr(lab.daemonReport()!.daemonFacts!.leases[p.node]!);
        assert.ok(contains(lease, ipv4(p.ip)), `${p.id} ${p.ip} is inside ${p.node}'s lease`);
      }
      assert.match(lab.status().nodes[0]!.podSubnet, /^10\.244\.\d+\.0\/24$/);
    });
    assertRunPassed(r);
    assertRealDaemon(r, 'flannel-host-gw');
    assertUnreachable(r, 'n1/p1', 'n3/p1');
    assertPath(r, 'same-subnet', { reachable: true, encap: 'none' });
  });

  test('vxlan: flanneld makes flannel.1 with its own VTEP MACs; VXLAN VNI 1 on 8472 everywhere', async () => {
    const r = await fresh('flanneld-vxlan');
    assertRunPassed(r);
    assertRealDaemon(r, 'flannel-vxlan');
    assertPath(r, 'same-subnet', { reachable: true, encap: 'vxlan', vni: 1, port: 8472 });
    assertPath(r, 'cross-subnet', { reachable: true, encap: 'vxlan', vni: 1, port: 8472 });
  });

  test('vxlan + DirectRouting: plain on one subnet, VXLAN across the router', async () => {
    const r = await fresh('flanneld-vxlan-directrouting');
    assertRunPassed(r);
    assertRealDaemon(r, 'flannel-vxlan-directrouting');
    assertPath(r, 'same-subnet', { reachable: true, encap: 'none' });
    assertPath(r, 'cross-subnet', { reachable: true, encap: 'vxlan', vni: 1, port: 8472 });
  });

  test('udp: flannel0 (TUN) and flanneld forwarding each pod packet in UDP 8285, decoded from the capture', async () => {
    const r = await fresh('flanneld-udp', async (lab) => {
      const link = execFileSync('ip', ['-n', lab.names.node('n1'), '-d', 'link', 'show', 'flannel0'], { encoding: 'utf8' });
      assert.match(link, /mtu 1472 .*\n.*\n\s+tun type tun/);
    });
    assertRunPassed(r);
    assertRealDaemon(r);
    assertPath(r, 'same-subnet', { reachable: true, encap: 'udp', port: 8285 });
    assertPath(r, 'cross-subnet', { reachable: true, encap: 'udp', port: 8285 });
    assertPath(r, 'same-node', { reachable: true, encap: 'none' });
  });

  test('pods attach through the real flannel CNI plugin, then portmap, as a runtime chains them (ADD in order, DEL reversed)', {
    skip: flannelCni.ok ? false : flannelCni.detail,
  }, async () => {
    // Both plugins wrapped, so the log shows each call: the flannel plugin through CNILAB_FLANNEL_CNI,
    // portmap through CNILAB_CNI_BIN_DIR (every other plugin the real one).
    const dir = tmpOut('cnibin');
    const log = `${dir}/calls.log`;
    const std = cniBinDir()!;
    for (const f of readdirSync(std)) if (f !== 'portmap') symlinkSync(`${std}/${f}`, `${dir}/${f}`);
    const wrap = (name: string, real: string) =>
      writeFileSync(
        `${dir}/${name}`,
        `#!/bin/sh\n[ -n "$CNI_COMMAND" ] && echo "${name} $CNI_COMMAND $CNI_CONTAINERID" >> ${log}\nexec ${real} "$@"\n`,
        { mode: 0o755 },
      );
    wrap('portmap', `${std}/portmap`);
    mkdirSync(`${dir}/own`);
    wrap('own/flannel', flannelCni.ok ? flannelCni.path : '');
    const env = { CNILAB_FLANNEL_CNI: `${dir}/own/flannel`, CNILAB_CNI_BIN_DIR: dir };
    const name = uniqueLab('fp');
    const out = tmpOut();
    try {
      const up = await runCli(['up', '--mode', 'flanneld-vxlan', '--name', name], env);
      assert.equal(up.code, 0, up.stderr.slice(-2000));
      const adds = readFileSync(log, 'utf8').trim().split('\n');
      const pods = topology.nodes.flatMap((n) => n.pods.map((p) => `cnilab-${name}-pod-${n.name}-${p.name}`));
      for (const pod of pods) {
        const mine = adds.filter((l) => l.endsWith(` ${pod}`));
        assert.deepEqual(mine, [`own/flannel ADD ${pod}`, `portmap ADD ${pod}`], `${pod}: flannel, then portmap`);
      }
      const check = await runCli(['check', '--name', name, '--out', out, '--count', '1'], env);
      assert.equal(check.code, 0, check.stdout + check.stderr.slice(-2000));
      writeFileSync(log, '');
      // Another family: the chain is deleted, portmap first.
      const sw = await runCli(['switch', 'calico-bgp', '--name', name], env);
      assert.equal(sw.code, 0, sw.stderr.slice(-2000));
      const dels = readFileSync(log, 'utf8').trim().split('\n');
      for (const pod of pods)
        assert.deepEqual(
          dels.filter((l) => l.endsWith(` ${pod}`)),
          [`portmap DEL ${pod}`, `own/flannel DEL ${pod}`],
          `${pod}: DEL in reverse`,
        );
    } finally {
      await runCli(['down', '--name', name]);
    }
    clean(name);
  });

  test('a backend change is a flanneld restart: what it leaves of vxlan is recorded, kept when asked, else removed', async () => {
    const name = uniqueLab('fs');
    const lab = await Lab.up(topology, getMode('flanneld-vxlan'), { name });
    try {
      const leases = lab.daemonReport()!.daemonFacts!.leases;
      await lab.switchTo(getMode('flanneld-host-gw'), { keepDaemonLeftovers: true });
      const d = lab.daemonReport()!.daemonFacts!;
      assert.deepEqual(d.leases, leases, 'flanneld keeps its lease across a restart (its subnet file)');
      for (const n of ['n1', 'n2', 'n3'])
        assert.ok(
          d.leftBehind!.some((l) => l.startsWith(`${n}: link flannel.1 vxlan id 1 port 8472`)),
          `${n}: flannel.1 survives the change to host-gw:\n${d.leftBehind!.join('\n')}`,
        );
      const link = execFileSync('ip', ['-n', lab.names.node('n1'), 'link', 'show'], { encoding: 'utf8' });
      assert.match(link, /flannel\.1/, 'kept, as asked');
      // A fact about flanneld, not cnilab's stale state.
      assert.deepEqual(await lab.staleState(), []);
      const r = await checkMode(lab, getMode('flanneld-host-gw'), { outDir: tmpOut(), count: 1 });
      assert.ok(r.daemonFacts?.leftBehind?.length, 'the run carries the observed leftovers');

      // The default: recorded, then removed; the wire shows what DirectRouting programs.
      await lab.switchTo(getMode('flanneld-vxlan-directrouting'));
      await lab.switchTo(getMode('flanneld-host-gw'));
      assert.ok(lab.daemonReport()!.daemonFacts!.leftBehind!.length > 0);
      assert.doesNotMatch(execFileSync('ip', ['-n', lab.names.node('n1'), 'link', 'show'], { encoding: 'utf8' }), /flannel\.1/);
      const hg = await checkMode(lab, getMode('flanneld-host-gw'), { outDir: tmpOut(), count: 1 });
      assertRunPassed(hg);
      assertUnreachable(hg, 'n1/p1', 'n3/p1');
      assert.deepEqual(hg.modelDiff?.differences, []);
    } catch (e) {
      await lab.down();
      throw e;
    }
    // Leaving for cnilab's own mode: flanneld stops and nothing of it is left.
    await leaveForOwnMode(lab, ['flanneld']);
  });

  test("back from cnilab's own mode: leases left in etcd with old VTEP MACs are waited out, not trusted", async () => {
    const name = uniqueLab('fb');
    const lab = await Lab.up(topology, getMode('flanneld-vxlan'), { name });
    try {
      // cnilab's own mode removes flanneld's flannel.1; etcd keeps vxlan leases naming its MACs.
      await lab.switchTo(getMode('flannel-vxlan-directrouting'));
      await lab.switchTo(getMode('flanneld-vxlan-directrouting'));
      const r = await checkMode(lab, getMode('flanneld-vxlan-directrouting'), { outDir: tmpOut(), count: 1 });
      assertRunPassed(r);
      assertRealDaemon(r, 'flannel-vxlan-directrouting');
    } finally {
      await lab.down();
    }
    clean(name);
  });

  test('cnilab run with every real-daemon mode: each passes on the wire, and results.json says what ran', async () => {
    const name = uniqueLab('fr');
    const out = tmpOut();
    const modes = ['flanneld-host-gw', 'flanneld-vxlan', 'flanneld-vxlan-directrouting', 'flanneld-udp'];
    const r = await runCli(['run', '--modes', modes.join(','), '--name', name, '--out', out, '--count', '1']);
    assert.equal(r.code, 0, r.stdout + r.stderr.slice(-2000));
    assert.match(r.stdout, /flanneld v\d+\.\d+\.\d+: leases n\d=10\.244\./);
    assert.match(r.stdout, /model flannel-vxlan: \d+ facts planned, 0 differ from the kernel/);
    const res = JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile;
    assert.deepEqual(
      res.runs.map((x) => [x.mode, x.status, x.daemon?.startsWith('flanneld ')]),
      modes.map((m) => [m, 'passed', true]),
    );
    assert.match(readFileSync(`${out}/report.md`, 'utf8'), /\*\*Real daemons\*\*/);
    clean(name);
  });

  test('Ctrl-C while flanneld and etcd run, and gc after a SIGKILL: no daemon survives', async () => {
    const name = uniqueLab('fi');
    const p = cli(['run', '--modes', 'flanneld-vxlan', '--name', name, '--out', tmpOut()], { CNILAB_FAULT: 'hang-program:flanneld-vxlan' });
    await waitFor('flanneld to run', () => labProcesses(name).some((l) => /flanneld/.test(l)), 30_000);
    assert.ok(
      labProcesses(name).some((l) => /etcd/.test(l)),
      'etcd runs',
    );
    p.kill('SIGINT');
    assert.equal(await new Promise((r) => p.on('exit', (c) => r(c))), 130);
    clean(name);

    const victim = uniqueLab('fk');
    const k = cli(['run', '--modes', 'flanneld-udp', '--name', victim, '--out', tmpOut()], { CNILAB_FAULT: 'hang-program:flanneld-udp' });
    await waitFor('flanneld to run', () => labProcesses(victim).some((l) => /flanneld/.test(l)), 30_000);
    await killThenGc(k, victim);
  });
});
